/**
 * A running pipeline the end-to-end checks drive from outside: its HTTP API and its ingest and
 * dead-letter queues. The embedded runner is one (started in the test's process); anything
 * described by a .sliceline/local.json is another (`npm run local` in another process, or the stack
 * `npm run localstack:deploy` put on LocalStack).
 */
import { readFileSync } from "node:fs";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";

const pipelineConfigSchema = z.object({
  api: z.url(),
  region: z.string().min(1).default("us-east-1"),
  sqs: z.object({
    endpoint: z.url(),
    ingestQueueUrl: z.url(),
    priorityIngestQueueUrl: z.url().optional(),
    deadLetterQueueUrl: z.url(),
  }),
});

/** What the checks need of a local.json (docs/contract.md §5 plus the dead-letter queue). */
export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;

export function readPipelineConfig(json: unknown): PipelineConfig {
  const result = pipelineConfigSchema.safeParse(json);
  if (!result.success)
    throw new Error(
      `not a pipeline description: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return result.data;
}

export interface PipelineTarget {
  readonly config: PipelineConfig;
  readonly sqs: SQSClient;
  /** Resolves once everything sent so far has been handled, as far as this target can observe. */
  settle(timeoutMs: number): Promise<void>;
  /**
   * How long served results may trail settle(): 0 where settle() sees inside the pipeline (the
   * embedded runner's whenIdle), longer where only queue counters are visible (a stream's fan-out
   * runs after its ingest queue is empty).
   */
  readonly lagMs: number;
  close(): void;
}

/**
 * The pipeline a local.json describes (SLICELINE_TARGET or .sliceline/local.json). Its queues are
 * reached with the credentials of the environment, or dummy ones (emulators accept any).
 */
export function describedTarget(path: string, options: { lagMs?: number } = {}): PipelineTarget {
  let raw: string;
  try {
    raw = readFileSync(path, "utf8");
  } catch {
    throw new Error(
      `${path}: no pipeline described; start one (npm run local, npm run localstack:deploy) or set SLICELINE_TARGET`,
    );
  }
  const config = readPipelineConfig(JSON.parse(raw));
  const sqs = new SQSClient({
    endpoint: config.sqs.endpoint,
    region: config.region,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "test",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "test",
    },
  });
  const ingestQueues = [config.sqs.ingestQueueUrl, config.sqs.priorityIngestQueueUrl].filter(
    (url): url is string => url !== undefined,
  );
  return {
    config,
    sqs,
    lagMs: options.lagMs ?? 120_000,
    settle: (timeoutMs) => queuesDrained(sqs, ingestQueues, timeoutMs),
    close: () => sqs.destroy(),
  };
}

/** Every queue shows no message (visible, in flight or delayed) twice in a row, a second apart. */
export async function queuesDrained(
  sqs: SQSClient,
  queueUrls: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  let last: Record<string, number> = {};
  while (streak < 2) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    last = {};
    for (const url of queueUrls) last[url] = await messagesIn(sqs, url);
    streak = Object.values(last).every((count) => count === 0) ? streak + 1 : 0;
    if (streak < 2 && Date.now() > deadline)
      throw new Error(`queues not drained after ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }
}

async function messagesIn(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes: attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
      ],
    }),
  );
  return Object.values(attributes).reduce((sum, value) => sum + Number(value ?? 0), 0);
}
