/**
 * The times ingest reads off an SQS message, made safe: they reach `Date#toISOString` and the
 * latency metrics, where an absurd producer stamp (1e20, negative, a year ahead) would throw or
 * lie. A stamp outside a sane window falls back to SQS's SentTimestamp; nothing here throws.
 */

/** A producer's clock may run ahead of SQS's by this much before its stamp is disbelieved. */
export const MAX_SOURCE_TIME_AHEAD_MS = 24 * 60 * 60 * 1000;

/**
 * When the message first entered the pipeline: SQS's SentTimestamp, or the earlier
 * `firstSentTimestamp` a dead letter carries (ingest's dead letters are new messages, so a redrive
 * would otherwise make an old event look new); now when neither is a sane time.
 */
export function sentTimeOf(
  sentTimestamp: string | undefined,
  nowMs: number,
  firstSentTimestamp?: string,
): number {
  const sent = Number(sentTimestamp);
  const first = Number(firstSentTimestamp);
  const candidates = [sent, first].filter((time) => isSaneTime(time, nowMs, Number.POSITIVE_INFINITY));
  return candidates.length > 0 ? Math.min(...candidates) : nowMs;
}

/**
 * When the change was seen at the source: the producer's `sourceTimeMs` stamp if it is a time
 * between `maxAgeMs` ago (no queue keeps a message longer) and a day ahead, else `sentTimeMs`.
 */
export function sourceTimeOf(
  stamped: string | undefined,
  sentTimeMs: number,
  nowMs: number,
  maxAgeMs: number,
): number {
  if (stamped === undefined || stamped.trim() === "") return sentTimeMs;
  const stamp = Number(stamped);
  return isSaneTime(stamp, nowMs, maxAgeMs) ? stamp : sentTimeMs;
}

function isSaneTime(timeMs: number, nowMs: number, maxAgeMs: number): boolean {
  return (
    Number.isFinite(timeMs) &&
    timeMs > 0 &&
    timeMs <= nowMs + MAX_SOURCE_TIME_AHEAD_MS &&
    nowMs - timeMs <= maxAgeMs
  );
}
