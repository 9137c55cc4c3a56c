/**
 * The rates /v1/stats serves, from what the tables already hold: every stored object's
 * resourceVersion is the write's wall time in microseconds (shared/core/revision-clock.ts), so the
 * objects of a kind whose version falls in the last window were written in it. Counting them costs
 * nothing beyond the COUNT query the counts already make.
 *
 * What this measures, honestly: distinct objects whose LAST write falls in the window, per second.
 * An object rewritten several times in the window counts once, and deletions are not counted (the
 * object is gone), so it is a lower bound of the write rate. Events in, SQS messages and
 * deliveries per second exist only as the handlers' CloudWatch metrics (the dashboard shows them).
 */
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputKind } from "#shared/core/output-changes.ts";

export const STATS_RATE_WINDOW_SECONDS = 300;

export const OBJECTS_WRITTEN_MEASURES =
  "objects of each kind whose last write (resourceVersion: its wall time in microseconds) falls in " +
  "the window, divided by the window: an object rewritten in the window counts once and deletions " +
  "are not counted, so a lower bound of the write rate. Events in, messages and deliveries per " +
  "second are CloudWatch metrics (EventsIn, MessagesIn, Deliveries), on the dashboard.";

export interface StatsRates {
  /** The window the rates average over, ending at the stats' asOf. */
  readonly windowSeconds: number;
  readonly objectsWrittenPerSecond: Readonly<Record<OutputKind, number>>;
  /** What the numbers measure. */
  readonly measures: string;
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
  windowSeconds = STATS_RATE_WINDOW_SECONDS,
): StatsRates {
  const perSecond = Object.fromEntries(
    Object.entries(writtenInWindow).map(([kind, count]) => [
      kind,
      Math.round((count / windowSeconds) * 1000) / 1000,
    ]),
  ) as Record<OutputKind, number>;
  return { windowSeconds, objectsWrittenPerSecond: perSecond, measures: OBJECTS_WRITTEN_MEASURES };
}
