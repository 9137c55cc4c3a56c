/**
 * How long the queues that feed ingest keep a message, and what follows from it for the core: the
 * oldest event ingest can be handed again, and so how long a DELETED object's tombstone must stay
 * to stop a late duplicate ADDED from resurrecting it. The stack sets the queues' retention from
 * these numbers and the core derives its default tombstone retention from them, so they cannot
 * drift apart (test/infra/tombstone-retention.test.ts checks the synthesized template).
 */
const DAY_MS = 24 * 60 * 60 * 1000;

export const QUEUE_RETENTION_DAYS = {
  /** The batched ingest queue and the priority queue (SQS' default is 4 days). */
  ingest: 4,
  priorityIngest: 4,
  /** The ingest dead-letter queue: SQS' maximum, so an operator has two weeks to redrive. */
  deadLetter: 14,
} as const;

/**
 * The longest an event can take from its producer to the ingest function: a full stay in an
 * ingest queue, dead-lettered by the function (a new message, so the DLQ's retention starts
 * again), a full stay in the DLQ, then redriven to an ingest queue (a new message again) and a
 * full stay there. SQS' own redrive keeps a message's first enqueue time, so it adds nothing.
 */
export function maxEventReplayAgeMs(days: {
  readonly ingest: number;
  readonly priorityIngest: number;
  readonly deadLetter: number;
}): number {
  const ingest = Math.max(days.ingest, days.priorityIngest);
  return (ingest + days.deadLetter + ingest) * DAY_MS;
}

/** Tombstones outlive every replay by a day, so clock skew and slow redrives stay covered. */
export const DEFAULT_TOMBSTONE_RETENTION_MS = maxEventReplayAgeMs(QUEUE_RETENTION_DAYS) + DAY_MS;
