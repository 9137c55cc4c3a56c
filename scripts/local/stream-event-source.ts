/**
 * A DynamoDB Streams event source mapping, emulated on the Streams API (DynamoDB Local implements
 * it; so do LocalStack and AWS):
 *   - every shard from TRIM_HORIZON, one batch at a time per shard (per-shard order; a child shard
 *     starts once its parent is drained), GetRecords with Limit = BatchSize;
 *   - a failed batch (the handler throws) is retried; with BisectBatchOnFunctionError it is split
 *     in two and each half retried on its own; with ReportBatchItemFailures the batch is
 *     checkpointed before the first failed sequence number and retried from there;
 *   - after MaximumRetryAttempts retries, or once a record is older than MaximumRecordAgeInSeconds,
 *     the batch is skipped and described on the OnFailure destination (an SQS queue), in the shape
 *     Lambda sends (requestContext, responseContext, DDBStreamBatchInfo).
 * ParallelizationFactor above 1 is not emulated (batches of one shard stay sequential).
 *
 * Delivery faults (the fault suite; none by default): a hook may have a batch delivered twice in
 * a row, as Lambda does when an invocation that did its work is retried; per-shard order is kept.
 */
import type { _Record, DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
} from "@aws-sdk/client-dynamodb-streams";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { sleep } from "./sqs-event-source.ts";

export interface StreamMappingSettings {
  readonly streamArn: string;
  readonly batchSize: number;
  /** Gather records this long after the first one before invoking (0: invoke on every poll with records). */
  readonly maximumBatchingWindowInSeconds?: number;
  readonly bisectBatchOnFunctionError: boolean;
  /** -1: until the record expires. */
  readonly maximumRetryAttempts: number;
  /** -1: until the record expires (24 h). */
  readonly maximumRecordAgeInSeconds: number;
  readonly reportBatchItemFailures: boolean;
  readonly onFailureQueueUrl: string | undefined;
  readonly functionArn: string;
}

export type StreamHandler = (
  event: DynamoDBStreamEvent,
  context: Context,
) => Promise<DynamoDBBatchResponse | undefined>;

export interface StreamEventSourceOptions {
  readonly name: string;
  readonly streams: DynamoDBStreamsClient;
  readonly sqs: SQSClient;
  readonly settings: StreamMappingSettings;
  readonly handler: StreamHandler;
  readonly context: () => Context;
  readonly region: string;
  /** Between empty polls of a shard (Lambda polls each shard about 4 times a second). */
  readonly pollIntervalMs?: number;
  /** Between retries of a failed batch. */
  readonly retryDelayMs?: number;
  readonly onInvocation?: (report: { records: number; failed: boolean; error?: unknown }) => void;
  readonly onFailure?: (description: unknown) => void;
  /** Errors of the Streams API itself (not of the handler). */
  readonly onPollError?: (error: unknown) => void;
  readonly deliveryFaults?: StreamDeliveryFaults;
}

/** Seeded duplicate deliveries, for the fault suite. */
export interface StreamDeliveryFaults {
  /** Deliver this batch of `count` records once more, right after it was delivered. */
  redeliver(count: number): boolean;
}

interface ShardState {
  readonly shard: Shard;
  done: boolean;
  /** Time of the last GetRecords that found nothing new (ms). */
  caughtUpAt: number;
}

export class StreamEventSource {
  readonly name: string;
  readonly settings: StreamMappingSettings;
  readonly #options: StreamEventSourceOptions;
  readonly #shards = new Map<string, ShardState>();
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #shardLoops = new Map<string, Promise<void>>();
  #inFlight = 0;
  /** Start of the last complete DescribeStream (ms): shards created before it are known. */
  #describedAt = 0;
  #invocations = 0;
  #failuresSent = 0;

  constructor(options: StreamEventSourceOptions) {
    this.#options = options;
    this.name = options.name;
    this.settings = options.settings;
  }

  get invocations(): number {
    return this.#invocations;
  }

  get failuresSent(): number {
    return this.#failuresSent;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#discover();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await Promise.allSettled(this.#shardLoops.values());
  }

  /** Nothing being handled, and every open shard polled empty since `sinceMs`. */
  isIdle(sinceMs: number): boolean {
    if (this.#inFlight > 0 || this.#describedAt < sinceMs) return false;
    for (const state of this.#shards.values()) {
      if (!state.done && state.caughtUpAt < sinceMs) return false;
    }
    return true;
  }

  /** Finds shards (new ones appear when DynamoDB rolls the stream over) and starts their readers. */
  async #discover(): Promise<void> {
    while (this.#running) {
      try {
        const describing = Date.now();
        let start: string | undefined;
        do {
          const page = await this.#options.streams.send(
            new DescribeStreamCommand({ StreamArn: this.settings.streamArn, ExclusiveStartShardId: start }),
          );
          for (const shard of page.StreamDescription?.Shards ?? []) {
            const id = shard.ShardId as string;
            if (this.#shards.has(id)) continue;
            this.#shards.set(id, { shard, done: false, caughtUpAt: 0 });
          }
          start = page.StreamDescription?.LastEvaluatedShardId;
        } while (start !== undefined);
        this.#describedAt = describing;
        for (const [id, state] of this.#shards) {
          if (this.#shardLoops.has(id) || state.done) continue;
          const parent = state.shard.ParentShardId;
          const parentState = parent === undefined ? undefined : this.#shards.get(parent);
          if (parentState !== undefined && !parentState.done) continue;
          this.#shardLoops.set(id, this.#readShard(state));
        }
      } catch (error) {
        if (!this.#running) return;
        this.#options.onPollError?.(error);
      }
      await sleep(400);
    }
  }

  async #readShard(state: ShardState): Promise<void> {
    const shardId = state.shard.ShardId as string;
    let checkpoint: string | undefined;
    let iterator: string | undefined;
    const interval = this.#options.pollIntervalMs ?? 250;
    while (this.#running) {
      try {
        if (iterator === undefined) {
          const result = await this.#options.streams.send(
            new GetShardIteratorCommand({
              StreamArn: this.settings.streamArn,
              ShardId: shardId,
              ...(checkpoint === undefined
                ? { ShardIteratorType: "TRIM_HORIZON" }
                : { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", SequenceNumber: checkpoint }),
            }),
          );
          iterator = result.ShardIterator;
          if (iterator === undefined) {
            state.done = true;
            return;
          }
        }
        const polledAt = Date.now();
        let page = await this.#options.streams.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: this.settings.batchSize }),
        );
        const records = page.Records ?? [];
        // The batching window: keep reading the shard until the batch is full or the window, counted
        // from the first record, is over (Lambda's MaximumBatchingWindowInSeconds for streams).
        const windowMs = (this.settings.maximumBatchingWindowInSeconds ?? 0) * 1000;
        while (
          records.length > 0 &&
          records.length < this.settings.batchSize &&
          Date.now() - polledAt < windowMs &&
          page.NextShardIterator !== undefined &&
          this.#running
        ) {
          await sleep(Math.min(interval, windowMs - (Date.now() - polledAt)));
          page = await this.#options.streams.send(
            new GetRecordsCommand({
              ShardIterator: page.NextShardIterator,
              Limit: this.settings.batchSize - records.length,
            }),
          );
          records.push(...(page.Records ?? []));
        }
        if (records.length > 0) {
          this.#inFlight++;
          try {
            await this.#deliver(shardId, records, 0);
            if (this.#options.deliveryFaults?.redeliver(records.length) === true)
              await this.#deliver(shardId, records, 0);
          } finally {
            this.#inFlight--;
          }
          checkpoint = records.at(-1)?.dynamodb?.SequenceNumber ?? checkpoint;
        }
        iterator = page.NextShardIterator;
        if (iterator === undefined) {
          state.done = true; // closed and drained
          return;
        }
        if (records.length === 0) {
          state.caughtUpAt = polledAt;
          await sleep(interval);
        }
      } catch (error) {
        if (!this.#running) return;
        iterator = undefined;
        // An expired iterator is renewed at the checkpoint. DynamoDB Local answers a TRIM_HORIZON
        // read of a shard it has just opened with TrimmedDataAccessException: read again.
        if (
          !(error instanceof ExpiredIteratorException) &&
          (error as Error).name !== "TrimmedDataAccessException"
        ) {
          this.#options.onPollError?.(error);
        }
        await sleep(interval);
      }
    }
  }

  /** Delivers records in order until they succeed, are bisected away, or go to the failure destination. */
  async #deliver(shardId: string, records: _Record[], retries: number): Promise<void> {
    let pending = records;
    let attempt = retries;
    const { maximumRetryAttempts, maximumRecordAgeInSeconds, bisectBatchOnFunctionError } = this.settings;
    while (pending.length > 0) {
      if (!this.#running) return;
      const oldest = pending[0]?.dynamodb?.ApproximateCreationDateTime;
      const ageSeconds = oldest === undefined ? 0 : (Date.now() - oldest.getTime()) / 1000;
      if (maximumRecordAgeInSeconds >= 0 && ageSeconds > maximumRecordAgeInSeconds) {
        await this.#sendFailure(shardId, pending, "RecordAgeExceeded", attempt);
        return;
      }
      const failedAt = await this.#invoke(pending);
      if (failedAt === undefined) return;
      pending = pending.slice(failedAt);
      attempt++;
      if (maximumRetryAttempts >= 0 && attempt > maximumRetryAttempts) {
        await this.#sendFailure(shardId, pending, "RetryAttemptsExhausted", attempt);
        return;
      }
      await sleep(this.#options.retryDelayMs ?? 100);
      if (bisectBatchOnFunctionError && pending.length > 1) {
        const middle = Math.ceil(pending.length / 2);
        await this.#deliver(shardId, pending.slice(0, middle), attempt);
        await this.#deliver(shardId, pending.slice(middle), attempt);
        return;
      }
    }
  }

  /** undefined on success; otherwise the index of the first record to retry from. */
  async #invoke(records: _Record[]): Promise<number | undefined> {
    const event: DynamoDBStreamEvent = { Records: records.map((record) => this.#record(record)) };
    this.#invocations++;
    try {
      const response = await this.#options.handler(event, this.#options.context());
      const failures = this.settings.reportBatchItemFailures ? (response?.batchItemFailures ?? []) : [];
      if (failures.length === 0) {
        this.#options.onInvocation?.({ records: records.length, failed: false });
        return undefined;
      }
      const sequence = records.map((record) => record.dynamodb?.SequenceNumber);
      let first = records.length;
      for (const failure of failures) {
        const index = sequence.indexOf(failure?.itemIdentifier);
        if (index < 0) {
          first = 0; // an unknown identifier fails the whole batch, as in Lambda
          break;
        }
        first = Math.min(first, index);
      }
      this.#options.onInvocation?.({ records: records.length, failed: true });
      return first;
    } catch (error) {
      this.#options.onInvocation?.({ records: records.length, failed: true, error });
      return 0;
    }
  }

  async #sendFailure(
    shardId: string,
    records: _Record[],
    condition: string,
    attempts: number,
  ): Promise<void> {
    const first = records[0]?.dynamodb;
    const last = records.at(-1)?.dynamodb;
    const description = {
      requestContext: {
        requestId: crypto.randomUUID(),
        functionArn: this.settings.functionArn,
        condition,
        approximateInvokeCount: attempts,
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      version: "1.0",
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId,
        startSequenceNumber: first?.SequenceNumber,
        endSequenceNumber: last?.SequenceNumber,
        approximateArrivalOfFirstRecord: first?.ApproximateCreationDateTime?.toISOString(),
        approximateArrivalOfLastRecord: last?.ApproximateCreationDateTime?.toISOString(),
        batchSize: records.length,
        streamArn: this.settings.streamArn,
      },
    };
    this.#failuresSent++;
    this.#options.onFailure?.(description);
    if (this.settings.onFailureQueueUrl !== undefined) {
      await this.#options.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.settings.onFailureQueueUrl,
          MessageBody: JSON.stringify(description),
        }),
      );
    }
  }

  #record(record: _Record): DynamoDBRecord {
    const stream = record.dynamodb ?? {};
    return {
      eventID: record.eventID,
      eventName: record.eventName,
      eventVersion: record.eventVersion ?? "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: this.#options.region,
      eventSourceARN: this.settings.streamArn,
      dynamodb: {
        ...(stream.ApproximateCreationDateTime === undefined
          ? {}
          : { ApproximateCreationDateTime: Math.floor(stream.ApproximateCreationDateTime.getTime() / 1000) }),
        Keys: stream.Keys as never,
        ...(stream.NewImage === undefined ? {} : { NewImage: asLambdaJson(stream.NewImage) as never }),
        ...(stream.OldImage === undefined ? {} : { OldImage: asLambdaJson(stream.OldImage) as never }),
        SequenceNumber: stream.SequenceNumber,
        SizeBytes: stream.SizeBytes,
        StreamViewType: stream.StreamViewType as never,
      },
      ...(record.userIdentity === undefined ? {} : { userIdentity: record.userIdentity }),
    } as DynamoDBRecord;
  }
}

/**
 * An image as Lambda's event JSON carries it: binary values (B, BS) as base64 text, where the
 * SDK's GetRecords hands over bytes. The handler must read what AWS sends, so the emulation
 * sends the same.
 */
function asLambdaJson(image: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, attributeAsJson(value)]));
}

function attributeAsJson(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const attribute = value as { B?: unknown; BS?: unknown; M?: Record<string, unknown>; L?: unknown[] };
  if (attribute.B instanceof Uint8Array) return { B: Buffer.from(attribute.B).toString("base64") };
  if (Array.isArray(attribute.BS))
    return { BS: attribute.BS.map((b) => (b instanceof Uint8Array ? Buffer.from(b).toString("base64") : b)) };
  if (attribute.M !== undefined) return { M: asLambdaJson(attribute.M) };
  if (attribute.L !== undefined) return { L: attribute.L.map(attributeAsJson) };
  return value;
}
