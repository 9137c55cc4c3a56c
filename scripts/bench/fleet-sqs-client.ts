/**
 * The live fleet's SQS client: the two calls a watcher agent makes on its queue (ReceiveMessage,
 * DeleteMessageBatch) as SQS's JSON-protocol requests over keep-alive HTTP, unsigned (fauxqs does
 * not check signatures), in the SDK client's shape as far as the agent uses it (`send(command)`,
 * errors named by their AWS code).
 *
 * Why not the SDK: a thousand agents share this machine's two cores, and the SDK's middleware,
 * signing and checksums cost about three times the request itself. Measured here against fauxqs
 * in its own process, CPU of the calling thread per receive + delete of one 7 KB message: SDK
 * ~0.9 ms (~0.65 ms without signing and MD5 checks), this client on node:http ~0.2–0.4 ms, and on
 * its own keep-alive connections (below) ~0.1 ms. At ~3 deliveries a second per agent that
 * difference is most of a core: the simulator's cost, not the pipeline's (each real agent pays it
 * on its own node). `npm run bench -- ... --fleet-client sdk` runs the fleet on the SDK instead.
 */
import { connect, type Socket } from "node:net";
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
  const pool = new ConnectionPool(url.hostname, Number(url.port || 80), maxSockets);
  const host = url.host;
  const call = async (action: string, input: unknown, signal: AbortSignal | undefined): Promise<unknown> => {
    const body = JSON.stringify(input);
    // One write: the request line, the headers the SDK's JSON protocol sends that fauxqs reads,
    // and the body.
    const head =
      `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-amz-json-1.0\r\n` +
      `X-Amz-Target: AmazonSQS.${action}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const { status, text } = await pool.request(head + body, signal);
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      throw new FleetSqsClientError(`${action}: HTTP ${status}, not JSON: ${text.slice(0, 200)}`);
    }
    if (status >= 200 && status < 300) return parsed;
    const type = String(parsed.__type ?? parsed.code ?? `HTTP${status}`);
    const message = String(parsed.message ?? parsed.Message ?? text);
    throw new SqsServiceError(type.slice(type.lastIndexOf("#") + 1), message, status);
  };
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
    destroy: () => pool.destroy(),
  };
}

/**
 * Keep-alive HTTP/1.1 connections, one request at a time on each: enough HTTP for a server that
 * answers with a Content-Length or chunked body (fauxqs, as any SQS endpoint). node:http's client
 * costs several times this per request (a ClientRequest, its headers' checks, the agent's
 * bookkeeping, an IncomingMessage stream), which a thousand agents on two cores pay ~5,000
 * times a second.
 */
class ConnectionPool {
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  readonly #waiting: Array<() => void> = [];
  readonly #host: string;
  readonly #port: number;
  readonly #maxSockets: number;
  #destroyed = false;

  constructor(host: string, port: number, maxSockets: number) {
    this.#host = host;
    this.#port = port;
    this.#maxSockets = maxSockets;
  }

  async request(data: string, signal: AbortSignal | undefined): Promise<HttpAnswer> {
    signal?.throwIfAborted();
    const connection = await this.#take();
    try {
      return await connection.request(data, signal);
    } finally {
      if (connection.reusable && !this.#destroyed) this.#idle.push(connection);
      else this.#all.delete(connection);
      this.#waiting.shift()?.();
    }
  }

  destroy(): void {
    this.#destroyed = true;
    for (const connection of this.#all) connection.destroy();
    this.#all.clear();
    this.#idle.length = 0;
  }

  async #take(): Promise<Connection> {
    for (;;) {
      if (this.#destroyed) throw new FleetSqsClientError("the fleet's SQS client was destroyed");
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        if (idle.reusable) return idle;
        this.#all.delete(idle);
        continue;
      }
      if (this.#all.size < this.#maxSockets) {
        const connection = new Connection(this.#host, this.#port);
        this.#all.add(connection);
        return connection;
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }
}

interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

const HEADERS_END = Buffer.from("\r\n\r\n");

class Connection {
  readonly #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: { resolve: (answer: HttpAnswer) => void; reject: (error: Error) => void } | undefined;
  #closed = false;
  #keepAlive = true;

  constructor(host: string, port: number) {
    this.#socket = connect({ host, port, noDelay: true });
    this.#socket.on("data", (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
    this.#socket.on("error", (error) => this.#fail(error));
    this.#socket.on("close", () => this.#fail(new FleetSqsClientError("connection closed")));
  }

  get reusable(): boolean {
    return !this.#closed && this.#keepAlive && this.#pending === undefined;
  }

  request(data: string, signal: AbortSignal | undefined): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      if (this.#closed) {
        reject(new FleetSqsClientError("connection closed"));
        return;
      }
      const onAbort = () => {
        this.destroy();
        reject(signal?.reason ?? new DOMException("aborted", "AbortError"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending = {
        resolve: (answer) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(answer);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      this.#socket.write(data);
    });
  }

  destroy(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #fail(error: Error): void {
    this.#closed = true;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }

  /** One whole answer in the buffer: resolve it (answers are never pipelined here). */
  #parse(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    const headersEnd = this.#buffer.indexOf(HEADERS_END);
    if (headersEnd < 0) return;
    const head = this.#buffer.toString("latin1", 0, headersEnd);
    const status = Number(head.slice(9, 12));
    let length: number | undefined;
    let chunked = false;
    for (const line of head.split("\r\n").slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
      else if (name === "connection") this.#keepAlive = value.toLowerCase() !== "close";
    }
    const bodyStart = headersEnd + 4;
    let body: Buffer;
    let consumed: number;
    if (chunked) {
      const decoded = decodeChunked(this.#buffer, bodyStart);
      if (decoded === undefined) return;
      ({ body, consumed } = decoded);
    } else {
      const size = length ?? 0;
      if (this.#buffer.length < bodyStart + size) return;
      body = this.#buffer.subarray(bodyStart, bodyStart + size);
      consumed = bodyStart + size;
    }
    const text = body.toString("utf8");
    this.#buffer = this.#buffer.length === consumed ? Buffer.alloc(0) : this.#buffer.subarray(consumed);
    this.#pending = undefined;
    if (!this.#keepAlive) this.destroy();
    pending.resolve({ status, text });
  }
}

/** A chunked body from `start`, once all of it is in `buffer`. */
function decodeChunked(buffer: Buffer, start: number): { body: Buffer; consumed: number } | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", at);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(buffer.toString("latin1", at, lineEnd), 16);
    if (Number.isNaN(size)) throw new FleetSqsClientError("malformed chunked answer");
    const dataStart = lineEnd + 2;
    if (size === 0) {
      // No trailers from these servers: the last chunk ends with an empty line.
      if (buffer.length < dataStart + 2) return undefined;
      return { body: Buffer.concat(parts), consumed: dataStart + 2 };
    }
    if (buffer.length < dataStart + size + 2) return undefined;
    parts.push(buffer.subarray(dataStart, dataStart + size));
    at = dataStart + size + 2;
  }
}

/** For the agents, which take an SQSClient and use only `send` of the two commands above. */
export function asSqsClient(client: FleetSqsClient): SQSClient {
  return client as unknown as SQSClient;
}
