/**
 * An SQS event source mapping, emulated: pollers (as many as MaximumConcurrency) each gather a
 * batch of up to BatchSize messages, waiting at most MaximumBatchingWindowInSeconds for it to
 * fill, invoke the handler with a Lambda SQS event, and then:
 *   - delete every message when the handler succeeds (with ReportBatchItemFailures: every message
 *     but the failed ones, which reappear after the queue's visibility timeout),
 *   - delete nothing when it throws (the whole batch comes back after the visibility timeout),
 *     or when ReportBatchItemFailures names a message that is not in the batch (as Lambda does).
 * maxReceiveCount and the move to the dead-letter queue are the queue's own RedrivePolicy, which
 * the SQS backend (fauxqs, LocalStack, AWS) applies on receive: nothing is emulated there.
 *
 * Delivery faults (the fault suite; none by default): SQS standard queues promise neither order
 * nor a single delivery, so a hook may shuffle a batch's records and hand a handled batch over
 * once more, later, next to newer batches (its messages already deleted, as when SQS delivered a
 * message twice and the other copy was handled first).
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

export interface SqsMappingSettings {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly batchSize: number;
  readonly maximumBatchingWindowInSeconds: number;
  readonly reportBatchItemFailures: boolean;
  /** ScalingConfig.MaximumConcurrency (Lambda's default without one: up to 1,000; here capped). */
  readonly maximumConcurrency: number;
}

/** Seeded order and duplicates of the batches, for the fault suite. */
export interface SqsDeliveryFaults {
  /** The order to hand the batch's `count` messages over in: a permutation of 0..count-1. */
  order(count: number): number[];
  /** Hand the batch over once more, this many ms after it was handled; undefined: once only. */
  redeliveryDelayMs(count: number): number | undefined;
}

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export interface SqsInvocationReport {
  readonly records: number;
  readonly deleted: number;
  readonly failed: number;
  readonly error?: unknown;
}

export interface SqsEventSourceOptions {
  readonly name: string;
  readonly sqs: SQSClient;
  readonly settings: SqsMappingSettings;
  readonly handler: SqsHandler;
  readonly context: () => Context;
  readonly region: string;
  readonly onInvocation?: (report: SqsInvocationReport) => void;
  readonly deliveryFaults?: SqsDeliveryFaults;
}

export class SqsEventSource {
  readonly name: string;
  readonly settings: SqsMappingSettings;
  readonly #options: SqsEventSourceOptions;
  #running = false;
  #workers: Promise<void>[] = [];
  /** Messages received and not yet settled (being batched or handled). */
  #held = 0;
  #invocations = 0;
  /** Duplicate deliveries scheduled or running (deliveryFaults). */
  readonly #redeliveries = new Set<Promise<void>>();

  constructor(options: SqsEventSourceOptions) {
    this.#options = options;
    this.name = options.name;
    this.settings = options.settings;
  }

  get invocations(): number {
    return this.#invocations;
  }

  /** Messages received and not yet settled: being batched or in an invocation. */
  get held(): number {
    return this.#held;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (let i = 0; i < Math.max(1, this.settings.maximumConcurrency); i++) this.#workers.push(this.#work());
  }

  /**
   * Stops polling; takes up to a second, the longest poll. Messages received but not yet handed to
   * the handler are released at once. In-flight invocations are abandoned, not awaited: their
   * messages are neither deleted nor released, so they reappear after the visibility timeout, as
   * when a Lambda container dies mid-batch.
   *
   * Long polls are not aborted: fauxqs keeps an aborted ReceiveMessage waiting and hands it the
   * next message, which then stays invisible for a whole visibility timeout.
   */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.allSettled(this.#workers);
    await Promise.allSettled(this.#redeliveries);
  }

  /** Nothing received and unsettled here, and nothing visible, in flight or delayed on the queue. */
  async isIdle(): Promise<boolean> {
    if (this.#held > 0 || this.#redeliveries.size > 0) return false;
    const { Attributes: attributes = {} } = await this.#options.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.settings.queueUrl,
        AttributeNames: [
          "ApproximateNumberOfMessages",
          "ApproximateNumberOfMessagesNotVisible",
          "ApproximateNumberOfMessagesDelayed",
        ],
      }),
    );
    const count = (name: string) => Number(attributes[name as keyof typeof attributes] ?? 0);
    return (
      this.#held === 0 &&
      count("ApproximateNumberOfMessages") +
        count("ApproximateNumberOfMessagesNotVisible") +
        count("ApproximateNumberOfMessagesDelayed") ===
        0
    );
  }

  async #work(): Promise<void> {
    while (this.#running) {
      const batch: Message[] = [];
      try {
        await this.#gather(batch);
        if (batch.length === 0) continue;
        if (!this.#running) {
          await this.#release(batch);
          return;
        }
        await this.#invoke(batch);
      } catch (error) {
        if (!this.#running) return;
        this.#options.onInvocation?.({ records: batch.length, deleted: 0, failed: batch.length, error });
        await sleep(200);
      } finally {
        this.#held -= batch.length;
      }
    }
  }

  /** One long poll for the first message, then fill the batch until BatchSize or the window ends. */
  async #gather(batch: Message[]): Promise<void> {
    const { batchSize, maximumBatchingWindowInSeconds: window } = this.settings;
    const first = await this.#receive(Math.min(10, batchSize), 1);
    this.#held += first.length;
    batch.push(...first);
    if (batch.length === 0) return;
    const deadline = Date.now() + window * 1000;
    while (this.#running && batch.length < batchSize) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      // Long-poll in whole seconds, never past the window; under a second, short polls.
      const wait = Math.min(1, Math.floor(remainingMs / 1000));
      const more = await this.#receive(Math.min(10, batchSize - batch.length), wait);
      this.#held += more.length;
      batch.push(...more);
      if (more.length === 0 && wait === 0) await sleep(Math.min(remainingMs, 50));
    }
  }

  async #receive(max: number, waitSeconds: number): Promise<Message[]> {
    const result = await this.#options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.settings.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
    );
    return result.Messages ?? [];
  }

  async #release(batch: Message[]): Promise<void> {
    for (let i = 0; i < batch.length; i += 10) {
      await this.#options.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.settings.queueUrl,
          Entries: batch.slice(i, i + 10).map((message, j) => ({
            Id: String(j),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      );
    }
  }

  async #invoke(batch: Message[]): Promise<void> {
    const event = this.#event(batch);
    this.#invocations++;
    let failedIds: Set<string>;
    let error: unknown;
    try {
      const response = await this.#options.handler(event, this.#options.context());
      failedIds = this.#failedIds(batch, response);
    } catch (thrown) {
      error = thrown;
      failedIds = new Set(batch.map((message) => message.MessageId as string));
    }
    if (!this.#running) return; // stopped mid-invocation: settle nothing
    const done = batch.filter((message) => !failedIds.has(message.MessageId as string));
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      const result = await this.#options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.settings.queueUrl,
          Entries: chunk.map((message, j) => ({ Id: String(j), ReceiptHandle: message.ReceiptHandle })),
        }),
      );
      if ((result.Failed ?? []).length > 0)
        throw new Error(`DeleteMessageBatch failed: ${JSON.stringify(result.Failed)}`);
    }
    this.#options.onInvocation?.({
      records: batch.length,
      deleted: done.length,
      failed: failedIds.size,
      ...(error === undefined ? {} : { error }),
    });
    const delayMs = this.#options.deliveryFaults?.redeliveryDelayMs(batch.length);
    if (delayMs !== undefined) this.#redeliver(batch, delayMs);
  }

  /** The Lambda event of a batch, in the order the delivery hook picks (received order without one). */
  #event(batch: Message[]): SQSEvent {
    const records = batch.map((message) => this.#record(message));
    const order = this.#options.deliveryFaults?.order(records.length);
    return { Records: order === undefined ? records : order.map((i) => records[i] as SQSRecord) };
  }

  /** The duplicate copy: its outcome changes nothing (the messages were deleted after the first). */
  #redeliver(batch: Message[], delayMs: number): void {
    const delivery = (async () => {
      await sleep(delayMs);
      if (!this.#running) return;
      this.#invocations++;
      let error: unknown;
      let failed = 0;
      try {
        failed = this.#failedIds(
          batch,
          await this.#options.handler(this.#event(batch), this.#options.context()),
        ).size;
      } catch (thrown) {
        error = thrown;
        failed = batch.length;
      }
      this.#options.onInvocation?.({
        records: batch.length,
        deleted: 0,
        failed,
        ...(error === undefined ? {} : { error }),
      });
    })();
    this.#redeliveries.add(delivery);
    void delivery.finally(() => this.#redeliveries.delete(delivery));
  }

  /** Lambda's rules: no response or an empty list is success; an unknown or empty id fails the batch. */
  #failedIds(batch: Message[], response: SQSBatchResponse | undefined): Set<string> {
    const all = new Set(batch.map((message) => message.MessageId as string));
    if (!this.settings.reportBatchItemFailures || response == null) return new Set();
    const failures = response.batchItemFailures ?? [];
    const failed = new Set<string>();
    for (const failure of failures) {
      const id = failure?.itemIdentifier;
      if (typeof id !== "string" || id === "" || !all.has(id)) return all;
      failed.add(id);
    }
    return failed;
  }

  #record(message: Message): SQSRecord {
    const attributes = message.Attributes ?? {};
    const messageAttributes: SQSRecord["messageAttributes"] = {};
    for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
      messageAttributes[name] = {
        dataType: value.DataType ?? "String",
        ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
        ...(value.BinaryValue === undefined
          ? {}
          : { binaryValue: Buffer.from(value.BinaryValue).toString("base64") }),
        stringListValues: [],
        binaryListValues: [],
      };
    }
    return {
      messageId: message.MessageId as string,
      receiptHandle: message.ReceiptHandle as string,
      body: message.Body ?? "",
      attributes: {
        ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
        SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
        SenderId: attributes.SenderId ?? "000000000000",
        ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes,
      md5OfBody: message.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.settings.queueArn,
      awsRegion: this.#options.region,
    };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
