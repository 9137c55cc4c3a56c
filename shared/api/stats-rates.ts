/**
 * The rates /v1/stats serves.
 *
 * Object write rates, from what the tables already hold: every stored object's resourceVersion is
 * the write's wall time in microseconds (shared/core/revision-clock.ts), so the objects of a kind
 * whose version falls in the last window were written in it. Counting them costs nothing beyond
 * the COUNT query the counts already make. What this measures, honestly: distinct objects whose
 * LAST write falls in the window, per second. An object rewritten several times in the window
 * counts once, and deletions are not counted (the object is gone), so it is a lower bound of the
 * write rate.
 *
 * Pipeline rates (messages, events, poison, deliveries... per second), from the per-minute
 * counters the ingest and fan-out functions add to (shared/pipeline/pipeline-counts.ts): over the
 * last one and five whole minutes plus the current minute so far, so a window is 60 to 120 s (or
 * 300 to 360 s) long and always ends now; `window` says exactly which span it averaged.
 */
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputKind } from "#shared/core/output-changes.ts";
import {
  MINUTE_MS,
  minuteOf,
  type PipelineCounter,
  type PipelineCounts,
  sumCounts,
} from "#shared/pipeline/pipeline-counts.ts";

export const STATS_RATE_WINDOW_SECONDS = 300;

export const OBJECTS_WRITTEN_MEASURES =
  "objects of each kind whose last write (resourceVersion: its wall time in microseconds) falls in " +
  "the window, divided by the window: an object rewritten in the window counts once and deletions " +
  "are not counted, so a lower bound of the write rate. Messages, events and deliveries per second " +
  "are in `pipeline`.";

export const PIPELINE_RATES_MEASURES =
  "per second, from per-minute counters the ingest and fan-out functions add to with every " +
  "invocation: each window is the last whole minutes (1 or 5) plus the current minute so far, and " +
  "ends at the stats' asOf. Ingest: messagesIn (SQS messages received, a retried one at each " +
  "receive), eventsIn (valid events), applied, stale, unchanged, rejected (poison events sent to " +
  "the dead-letter queue with their reason), deadLettered (valid events whose unit failed for good), " +
  "objectWrites. Fan-out: streamRecords, messagesPublished, deliveries (each publish times its " +
  "topic's subscribers), bytesPublished. Advisory: a retried invocation counts again, and one that " +
  "could not record its counts is missing; the CloudWatch metrics are the authoritative record.";

/** The pipeline rate windows: how many whole minutes each spans before the current one. */
export const PIPELINE_RATE_WINDOWS = { oneMinute: 1, fiveMinutes: 5 } as const;

/** The span a pipeline rate averages over. */
export interface RateWindow {
  /** RFC 3339: the start of the first whole minute. */
  readonly from: string;
  /** RFC 3339: now (the stats' asOf). */
  readonly to: string;
  readonly seconds: number;
}

export interface PipelineRateWindow {
  readonly window: RateWindow;
  readonly perSecond: Readonly<Record<PipelineCounter, number>>;
}

export interface PipelineRates {
  readonly oneMinute: PipelineRateWindow;
  readonly fiveMinutes: PipelineRateWindow;
  /** What the numbers measure. */
  readonly measures: string;
}

export interface StatsRates {
  /** The window the rates average over, ending at the stats' asOf. */
  readonly windowSeconds: number;
  readonly objectsWrittenPerSecond: Readonly<Record<OutputKind, number>>;
  /** What the numbers measure. */
  readonly measures: string;
  /** The pipeline's own rates, over 1 and 5 minutes. */
  readonly pipeline: PipelineRates;
}

/** The smallest resourceVersion the revision clock issues at or after `ms`. */
export function resourceVersionAt(ms: number): string {
  return BigInt(Math.max(0, Math.floor(ms * 1000))).toString();
}

/** Whether an object with this version was last written at or after `since` (resourceVersionAt). */
export function writtenSince(resourceVersion: string | undefined, since: string): boolean {
  return resourceVersion !== undefined && compareResourceVersions(resourceVersion, since) >= 0;
}

export function statsRates(
  writtenInWindow: Readonly<Record<OutputKind, number>>,
  pipeline: PipelineRates,
  windowSeconds = STATS_RATE_WINDOW_SECONDS,
): StatsRates {
  return {
    windowSeconds,
    objectsWrittenPerSecond: perSecondOf(writtenInWindow, windowSeconds),
    measures: OBJECTS_WRITTEN_MEASURES,
    pipeline,
  };
}

/** The minutes whose counters pipelineRates needs at `nowMs`: the current one and the five before. */
export function pipelineRateMinutes(nowMs: number): number[] {
  const current = minuteOf(nowMs);
  const longest = Math.max(...Object.values(PIPELINE_RATE_WINDOWS));
  return Array.from({ length: longest + 1 }, (_, i) => current - longest + i);
}

/** Per-second rates over each window, from the counters recorded per minute (absent: nothing counted). */
export function pipelineRates(
  nowMs: number,
  countsByMinute: ReadonlyMap<number, PipelineCounts>,
): PipelineRates {
  const current = minuteOf(nowMs);
  const over = (wholeMinutes: number): PipelineRateWindow => {
    const fromMs = (current - wholeMinutes) * MINUTE_MS;
    const seconds = (nowMs - fromMs) / 1000;
    const counts = sumCounts(
      Array.from(
        { length: wholeMinutes + 1 },
        (_, i) => countsByMinute.get(current - wholeMinutes + i) ?? {},
      ),
    );
    return {
      window: { from: new Date(fromMs).toISOString(), to: new Date(nowMs).toISOString(), seconds },
      perSecond: perSecondOf(counts, seconds),
    };
  };
  return {
    oneMinute: over(PIPELINE_RATE_WINDOWS.oneMinute),
    fiveMinutes: over(PIPELINE_RATE_WINDOWS.fiveMinutes),
    measures: PIPELINE_RATES_MEASURES,
  };
}

/** Counts over a span, per second, to three decimals. */
function perSecondOf<K extends string>(
  counts: Readonly<Record<K, number>>,
  seconds: number,
): Record<K, number> {
  return Object.fromEntries(
    Object.entries<number>(counts).map(([key, count]) => [key, Math.round((count / seconds) * 1000) / 1000]),
  ) as Record<K, number>;
}
