/**
 * The live fleet's SQS client: the two calls a watcher agent makes on its queue (ReceiveMessage,
 * DeleteMessageBatch) as SQS's JSON-protocol requests over keep-alive HTTP, unsigned (fauxqs does
 * not check signatures), in the SDK client's shape as far as the agent uses it (`send(command)`,
 * errors named by their AWS code).
 *
 * Why not the SDK: a thousand agents share this machine's two cores, and the SDK's middleware,
 * signing and checksums cost about three times the request itself. Measured here against fauxqs
 * in its own process, CPU of the calling thread per receive + delete of one 7 KB message: SDK
 * ~0.9 ms (~0.65 ms without signing and MD5 checks), this client ~0.27 ms. At ~3 deliveries a
 * second per agent that difference is most of a core: the simulator's cost, not the pipeline's
 * (each real agent pays it on its own node). `npm run bench -- ... --fleet-client sdk` runs the
 * fleet on the SDK instead.
 */
import { Agent, request } from "node:http";
import {
  DeleteMessageBatchCommand,
  type DeleteMessageBatchCommandOutput,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  type SQSClient,
} from "@aws-sdk/client-sqs";

export class FleetSqsClientError extends Error {
  override name = "FleetSqsClientError";
}

/** An SQS error answer: named by its code, as the SDK names them (QueueDoesNotExist, ...). */
export class SqsServiceError extends Error {
  readonly statusCode: number;
  constructor(code: string, message: string, statusCode: number) {
    super(message);
    this.name = code;
    this.statusCode = statusCode;
  }
}

export interface FleetSqsClient {
  send(
    command: ReceiveMessageCommand | DeleteMessageBatchCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<ReceiveMessageCommandOutput | DeleteMessageBatchCommandOutput>;
  destroy(): void;
}

export function createFleetSqsClient(endpoint: string, maxSockets: number): FleetSqsClient {
  const url = new URL(endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets });
  const call = (action: string, input: unknown, signal: AbortSignal | undefined) =>
    new Promise<unknown>((resolve, reject) => {
      const body = JSON.stringify(input);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: "POST",
          path: "/",
          agent,
          headers: {
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": `AmazonSQS.${action}`,
            "content-length": Buffer.byteLength(body),
          },
          ...(signal === undefined ? {} : { signal }),
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", reject);
          response.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: Record<string, unknown> = {};
            try {
              parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
            } catch {
              reject(
                new FleetSqsClientError(
                  `${action}: HTTP ${response.statusCode}, not JSON: ${text.slice(0, 200)}`,
                ),
              );
              return;
            }
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(parsed);
              return;
            }
            const type = String(parsed.__type ?? parsed.code ?? `HTTP${status}`);
            const message = String(parsed.message ?? parsed.Message ?? text);
            reject(new SqsServiceError(type.slice(type.lastIndexOf("#") + 1), message, status));
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return {
    async send(command, options = {}) {
      if (command instanceof ReceiveMessageCommand)
        return (await call(
          "ReceiveMessage",
          command.input,
          options.abortSignal,
        )) as ReceiveMessageCommandOutput;
      if (command instanceof DeleteMessageBatchCommand)
        return (await call(
          "DeleteMessageBatch",
          command.input,
          options.abortSignal,
        )) as DeleteMessageBatchCommandOutput;
      throw new FleetSqsClientError(
        `the fleet's SQS client sends ReceiveMessage and DeleteMessageBatch only, not ${(command as object).constructor.name}`,
      );
    },
    destroy: () => agent.destroy(),
  };
}

/** For the agents, which take an SQSClient and use only `send` of the two commands above. */
export function asSqsClient(client: FleetSqsClient): SQSClient {
  return client as unknown as SQSClient;
}
