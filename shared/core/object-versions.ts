/**
 * resourceVersion ordering with tombstones.
 *
 * SQS delivers at least once and in no particular order, so every watched object remembers the
 * newest resourceVersion applied to it. A DELETED event leaves a tombstone carrying its version:
 * a late, older ADDED for the same object is then recognised as stale instead of resurrecting it.
 */

export interface Versioned<R> {
  readonly resourceVersion: string;
  /** undefined: the object was deleted at resourceVersion (a tombstone). */
  readonly record: R | undefined;
  /** When the tombstone was written, so it can be swept after its retention. */
  readonly deletedAtMs?: number;
}

/** Numeric comparison of decimal strings of any length (etcd revisions are int64). */
export function compareResourceVersions(a: string, b: string): number {
  const x = stripLeadingZeros(a);
  const y = stripLeadingZeros(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function stripLeadingZeros(value: string): string {
  const stripped = value.replace(/^0+/, "");
  return stripped === "" ? "0" : stripped;
}

export function isNewerThan(resourceVersion: string, current: Versioned<unknown> | undefined): boolean {
  return current === undefined || compareResourceVersions(resourceVersion, current.resourceVersion) > 0;
}

export function isTombstone(entry: Versioned<unknown> | undefined): boolean {
  return entry !== undefined && entry.record === undefined;
}

/** Drops tombstones older than the retention; returns how many went. Live entries are never touched. */
export function sweepTombstones<R>(
  entries: Map<string, Versioned<R>>,
  nowMs: number,
  retentionMs: number,
): number {
  let swept = 0;
  for (const [key, entry] of entries) {
    if (
      entry.record === undefined &&
      entry.deletedAtMs !== undefined &&
      nowMs - entry.deletedAtMs >= retentionMs
    ) {
      entries.delete(key);
      swept++;
    }
  }
  return swept;
}
