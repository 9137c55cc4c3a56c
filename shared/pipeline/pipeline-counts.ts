/**
 * The pipeline's own counters, so /v1/stats can serve rates without a CloudWatch client: the ingest
 * and fan-out functions each add their invocation's counts to the counter of the current minute
 * (one atomic ADD per invocation), and the API reads the last few minutes back
 * (shared/api/stats-rates.ts turns them into per-second rates).
 *
 * Counts are advisory: an invocation that is retried counts again, and a failure to record them
 * is logged and never fails the batch (recordPipelineCountsAdvisory). The CloudWatch metrics stay
 * the authoritative record.
 */
import type { IngestOutcome } from "./ingest-batch.ts";

export const PIPELINE_COUNTERS = [
  // Ingest.
  /** SQS messages received (a message handed back and received again counts each time). */
  "messagesIn",
  /** Valid watch events given to the engine. */
  "eventsIn",
  /** Events that changed an output-relevant field. */
  "applied",
  /** Events not newer than what was already applied (duplicates, reordering). */
  "stale",
  /** Newer events that touched no output field (heartbeats, annotations). */
  "unchanged",
  /** Poison events refused at intake (malformed, or too old), sent to the dead-letter queue. */
  "rejected",
  /** Valid events whose unit failed for good, sent to the dead-letter queue with the reason. */
  "deadLettered",
  /** Output objects written (EndpointSlices, CiliumEndpointSlices, CiliumIdentities). */
  "objectWrites",
  // Fan-out.
  /** Slices-table stream records received. */
  "streamRecords",
  /** Messages published to the change topics (bundles, or one per change and scope). */
  "messagesPublished",
  /** Messages delivered to watcher queues: each publish times its topic's subscribers. */
  "deliveries",
  /** Bytes of the messages published. */
  "bytesPublished",
] as const;

export type PipelineCounter = (typeof PIPELINE_COUNTERS)[number];
export type PipelineCounts = Partial<Record<PipelineCounter, number>>;

/** Where the handlers add their counts (the state table in AWS). */
export interface PipelineCountsRecorder {
  /** Adds `counts` to the counters of `minute` (minuteOf); throws when they could not be stored. */
  recordPipelineCounts(minute: number, counts: PipelineCounts): Promise<void>;
}

/** Where the API reads them back. */
export interface PipelineCountsSource {
  /** The counts recorded in each of `minutes`; a minute nothing was recorded in is absent. */
  pipelineCountsOf(minutes: readonly number[]): Promise<ReadonlyMap<number, PipelineCounts>>;
}

export const MINUTE_MS = 60_000;

/** The minute a time falls in: whole minutes since the epoch. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}

/** What one ingest invocation counts. */
export function ingestCounts(messages: number, outcome: IngestOutcome): PipelineCounts {
  const report = outcome.report;
  return {
    messagesIn: messages,
    rejected: outcome.rejected,
    deadLettered: outcome.deadLettered,
    ...(report === undefined
      ? {}
      : {
          eventsIn: report.eventsIn,
          applied: report.applied,
          stale: report.stale,
          unchanged: report.unchanged,
          objectWrites: report.writes.length,
        }),
  };
}

/** What one fan-out invocation counts. */
export function fanoutCounts(totals: {
  readonly streamRecords: number;
  readonly published: number;
  readonly deliveries: number;
  readonly bytes: number;
}): PipelineCounts {
  return {
    streamRecords: totals.streamRecords,
    messagesPublished: totals.published,
    deliveries: totals.deliveries,
    bytesPublished: totals.bytes,
  };
}

/** The counters of `counts` that are positive whole numbers: what is worth an ADD. */
export function nonZeroCounts(counts: PipelineCounts): Array<[PipelineCounter, number]> {
  return PIPELINE_COUNTERS.flatMap((counter) => {
    const value = counts[counter];
    return value !== undefined && Number.isInteger(value) && value > 0
      ? [[counter, value] as [PipelineCounter, number]]
      : [];
  });
}

/** The sum of several minutes' counts, every counter present (0 when never recorded). */
export function sumCounts(all: Iterable<PipelineCounts>): Record<PipelineCounter, number> {
  const sum = Object.fromEntries(PIPELINE_COUNTERS.map((counter) => [counter, 0])) as Record<
    PipelineCounter,
    number
  >;
  for (const counts of all) {
    for (const [counter, value] of nonZeroCounts(counts)) sum[counter] += value;
  }
  return sum;
}

/**
 * Records the counts, or reports why it could not: counts are advisory, so the batch they describe
 * goes on either way. Nothing is sent when every count is zero.
 */
export async function recordPipelineCountsAdvisory(
  recorder: PipelineCountsRecorder | undefined,
  nowMs: number,
  counts: PipelineCounts,
  onError: (error: unknown) => void,
): Promise<void> {
  if (recorder === undefined || nonZeroCounts(counts).length === 0) return;
  try {
    await recorder.recordPipelineCounts(minuteOf(nowMs), counts);
  } catch (error) {
    onError(error);
  }
}
