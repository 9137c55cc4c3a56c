/**
 * One SQS batch through the ingest path, storage-agnostic:
 *   1. parse every message; poison events go to the dead-letter sink with their reason,
 *   2. apply all valid events of the batch in one engine call (one reconcile per namespace group),
 *   3. report which messages must come back.
 *
 * A message is retried only if something on our side failed for it (the dead-letter send, or the
 * engine): a poison event never blocks its batch, and a retry is safe because applying an event
 * twice changes nothing.
 */
import type { BatchReport, SliceEngine, SourcedEvent } from "#shared/core/slice-engine.ts";
import { type ParseOptions, parseMessageBody } from "#shared/k8s/parse-message.ts";

export interface IngestRecord {
  readonly messageId: string;
  readonly body: string;
  /** When the change was seen at the source: a producer-set time if any, else SQS SentTimestamp. */
  readonly sourceTimeMs: number;
}

export interface DeadLetter {
  readonly sourceMessageId: string;
  /** Position in a producer batch, when the body held several events. */
  readonly index: number | undefined;
  readonly reason: string;
  /** The offending event as JSON, or the raw body when it was not JSON. */
  readonly body: string;
}

/** Where poison events go (the ingest DLQ in AWS). Throws when they could not be stored. */
export interface DeadLetterSink {
  send(letters: readonly DeadLetter[]): Promise<void>;
}

export interface IngestOutcome {
  readonly failedMessageIds: string[];
  readonly rejected: number;
  readonly ignored: number;
  /** undefined when the engine failed (every message with valid events is retried). */
  readonly report: BatchReport | undefined;
  readonly error: unknown;
}

export async function ingestBatch(
  records: readonly IngestRecord[],
  dependencies: { engine: SliceEngine; deadLetters: DeadLetterSink; parseOptions?: ParseOptions },
): Promise<IngestOutcome> {
  const failed = new Set<string>();
  const events: SourcedEvent[] = [];
  const contributors = new Set<string>();
  const letters: DeadLetter[] = [];
  let ignored = 0;
  for (const record of records) {
    const parsed = parseMessageBody(record.body, dependencies.parseOptions);
    ignored += parsed.ignored;
    for (const event of parsed.events) events.push({ event, sourceTimeMs: record.sourceTimeMs });
    if (parsed.events.length > 0) contributors.add(record.messageId);
    for (const rejection of parsed.rejected) {
      letters.push({
        sourceMessageId: record.messageId,
        index: rejection.index,
        reason: rejection.reason,
        body: typeof rejection.raw === "string" ? rejection.raw : JSON.stringify(rejection.raw),
      });
    }
  }
  const deadLettered = await sendDeadLetters(letters, dependencies.deadLetters);
  for (const messageId of deadLettered.failedMessageIds) failed.add(messageId);

  let report: BatchReport | undefined;
  let error: unknown;
  if (events.length > 0) {
    try {
      report = await dependencies.engine.applyBatch(events);
    } catch (caught) {
      error = caught;
      for (const messageId of contributors) failed.add(messageId);
    }
  }
  return { failedMessageIds: [...failed], rejected: letters.length, ignored, report, error };
}

/** Sends per source message, so one message's failure to dead-letter fails only that message. */
async function sendDeadLetters(
  letters: readonly DeadLetter[],
  sink: DeadLetterSink,
): Promise<{ failedMessageIds: string[] }> {
  const byMessage = new Map<string, DeadLetter[]>();
  for (const letter of letters) {
    byMessage.set(letter.sourceMessageId, [...(byMessage.get(letter.sourceMessageId) ?? []), letter]);
  }
  const failedMessageIds: string[] = [];
  await Promise.all(
    [...byMessage].map(async ([messageId, own]) => {
      try {
        await sink.send(own);
      } catch {
        failedMessageIds.push(messageId);
      }
    }),
  );
  return { failedMessageIds };
}
