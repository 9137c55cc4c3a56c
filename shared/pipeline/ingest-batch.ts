/**
 * One SQS batch through the ingest path, storage-agnostic:
 *   1. parse every message; poison events, and events older than tombstones last, go to the
 *      dead-letter sink with their reason,
 *   2. apply the valid events in one engine call that isolates its units: each namespace group
 *      and each Node event is applied and committed on its own,
 *   3. act on each unit that failed, by the class of its failure (failure-class.ts): a
 *      deterministic one sends the unit's events to the dead-letter sink with the reason; a
 *      transient one hands back every message that carried one of its events; an unclassified
 *      one does the same until the message has come back `giveUpAfterReceives` times, then
 *      dead-letters the events with the reason,
 *   4. report which messages must come back.
 *
 * A message may carry several events (`{"events": [...]}`) spanning groups; it comes back if any
 * of them must be retried. Its events that were committed meanwhile are then applied twice, which
 * changes nothing (each object keeps the newest resourceVersion applied, so they are stale).
 * A message whose other events went to the dead-letter sink may put them there once more.
 */
import { DEFAULT_SLICING_SETTINGS } from "#shared/core/settings.ts";
import type { BatchReport, SliceEngine, SourcedEvent, UnitFailure } from "#shared/core/slice-engine.ts";
import { type ParseOptions, parseMessageBody } from "#shared/k8s/parse-message.ts";
import { classifyFailure, describeError, type FailureClass } from "./failure-class.ts";

export interface IngestRecord {
  readonly messageId: string;
  readonly body: string;
  /** When the change was seen at the source: a producer-set time if sane, else sentTimeMs. */
  readonly sourceTimeMs: number;
  /** When the message entered the pipeline (SQS SentTimestamp): what its age is measured from. */
  readonly sentTimeMs: number;
  /** How many times SQS has handed this message over, this time included (1 when unknown). */
  readonly receiveCount?: number;
}

export interface DeadLetter {
  readonly sourceMessageId: string;
  /** Position in a producer batch, when the body held several events. */
  readonly index: number | undefined;
  readonly reason: string;
  /** The offending event as JSON, or the raw body when it was not JSON. */
  readonly body: string;
  /** The message's source and first-sent times, kept so a redrive neither loses nor renews them. */
  readonly sourceTimeMs: number;
  readonly sentTimeMs: number;
}

/** Where poison events go (the ingest DLQ in AWS). Throws when they could not be stored. */
export interface DeadLetterSink {
  send(letters: readonly DeadLetter[]): Promise<void>;
}

/** A unit the engine could not apply, with what ingest made of it. */
export interface ClassifiedFailure extends UnitFailure {
  readonly failureClass: FailureClass;
}

export interface IngestOutcome {
  readonly failedMessageIds: string[];
  /** Events refused at intake (malformed, or older than tombstones last), sent to the dead-letter sink. */
  readonly rejected: number;
  readonly ignored: number;
  /** Valid events sent to the dead-letter sink because their unit failed for good. */
  readonly deadLettered: number;
  /** undefined when the engine failed as a whole (every message with valid events is retried). */
  readonly report: BatchReport | undefined;
  readonly failures: readonly ClassifiedFailure[];
  /** What failed the whole engine call, if it did. */
  readonly error: unknown;
}

export interface IngestDependencies {
  readonly engine: SliceEngine;
  readonly deadLetters: DeadLetterSink;
  readonly parseOptions?: ParseOptions;
  readonly nowMs?: () => number;
  /**
   * Events sent longer ago are refused: their object's tombstone may be gone, so applying them
   * could resurrect a deleted object. The engine's tombstone retention (the default's).
   */
  readonly maxEventAgeMs?: number;
  /** Receives after which an unclassified failure is dead-lettered with its reason (default 4). */
  readonly giveUpAfterReceives?: number;
}

/** Where an event came from, to retry its message or dead-letter it as received. */
interface EventOrigin {
  readonly record: IngestRecord;
  readonly index: number | undefined;
  readonly raw: unknown;
}

/** One receive short of the stack's default maxReceiveCount (5), where SQS would redrive without a reason. */
const DEFAULT_GIVE_UP_AFTER_RECEIVES = 4;

export async function ingestBatch(
  records: readonly IngestRecord[],
  dependencies: IngestDependencies,
): Promise<IngestOutcome> {
  const nowMs = (dependencies.nowMs ?? Date.now)();
  const maxEventAgeMs = dependencies.maxEventAgeMs ?? DEFAULT_SLICING_SETTINGS.tombstoneRetentionMs;
  const giveUpAfterReceives = dependencies.giveUpAfterReceives ?? DEFAULT_GIVE_UP_AFTER_RECEIVES;
  const failed = new Set<string>();
  const events: SourcedEvent[] = [];
  const origins = new Map<SourcedEvent, EventOrigin>();
  const letters: DeadLetter[] = [];
  let ignored = 0;
  for (const record of records) {
    const parsed = parseMessageBody(record.body, dependencies.parseOptions);
    ignored += parsed.ignored;
    const ageMs = nowMs - record.sentTimeMs;
    for (const accepted of parsed.accepted) {
      if (ageMs > maxEventAgeMs) {
        letters.push(letterFor({ record, ...accepted }, tooOldReason(ageMs, maxEventAgeMs)));
        continue;
      }
      const item: SourcedEvent = { event: accepted.event, sourceTimeMs: record.sourceTimeMs };
      events.push(item);
      origins.set(item, { record, index: accepted.index, raw: accepted.raw });
    }
    for (const rejection of parsed.rejected) {
      letters.push(letterFor({ record, index: rejection.index, raw: rejection.raw }, rejection.reason));
    }
  }
  const rejected = letters.length;

  let report: BatchReport | undefined;
  let error: unknown;
  const failures: ClassifiedFailure[] = [];
  let deadLettered = 0;
  if (events.length > 0) {
    try {
      report = await dependencies.engine.applyBatch(events, { isolateFailures: true });
    } catch (caught) {
      error = caught;
      for (const origin of origins.values()) failed.add(origin.record.messageId);
    }
  }
  for (const failure of report?.failures ?? []) {
    const failureClass = classifyFailure(failure.error);
    failures.push({ ...failure, failureClass });
    for (const event of failure.events) {
      const origin = origins.get(event) as EventOrigin;
      const receives = origin.record.receiveCount ?? 1;
      const givingUp = failureClass === "unclassified" && receives >= giveUpAfterReceives;
      if (failureClass === "deterministic" || givingUp) {
        const how = givingUp ? `unclassified, receive ${receives}` : failureClass;
        letters.push(letterFor(origin, `${failure.unit} failed (${how}): ${describeError(failure.error)}`));
        deadLettered++;
      } else {
        failed.add(origin.record.messageId);
      }
    }
  }

  const deadLetterFailures = await sendDeadLetters(letters, dependencies.deadLetters);
  for (const messageId of deadLetterFailures.failedMessageIds) failed.add(messageId);
  return { failedMessageIds: [...failed], rejected, ignored, deadLettered, report, failures, error };
}

function letterFor(origin: EventOrigin, reason: string): DeadLetter {
  return {
    sourceMessageId: origin.record.messageId,
    index: origin.index,
    reason,
    body: typeof origin.raw === "string" ? origin.raw : JSON.stringify(origin.raw),
    sourceTimeMs: origin.record.sourceTimeMs,
    sentTimeMs: origin.record.sentTimeMs,
  };
}

function tooOldReason(ageMs: number, maxEventAgeMs: number): string {
  const hours = (ms: number) => `${Math.round(ms / 3_600_000)} h`;
  return `too old: sent ${hours(ageMs)} ago, longer than deleted objects' tombstones last (${hours(maxEventAgeMs)}); applying it could resurrect a deleted object`;
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
