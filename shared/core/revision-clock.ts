/**
 * resourceVersions for the objects sliceline writes.
 *
 * There is no etcd here to hand out a global revision, and a single counter item in DynamoDB would
 * be the hottest key of the table. A hybrid clock does the job: microseconds of wall time, bumped
 * past the object's previous version, so versions increase per object even across writers with
 * skewed clocks, and sort roughly by time across objects.
 */
import { compareResourceVersions } from "./object-versions.ts";

export type Clock = () => number;

export class RevisionClock {
  readonly #nowMs: Clock;
  #last = 0n;

  constructor(nowMs: Clock = Date.now) {
    this.#nowMs = nowMs;
  }

  /** A version newer than `previous` (the object's current one) and than any this clock issued. */
  next(previous?: string): string {
    let candidate = BigInt(Math.floor(this.#nowMs() * 1000));
    if (candidate <= this.#last) candidate = this.#last + 1n;
    if (previous !== undefined && compareResourceVersions(candidate.toString(), previous) <= 0) {
      candidate = BigInt(previous) + 1n;
    }
    this.#last = candidate;
    return candidate.toString();
  }
}
