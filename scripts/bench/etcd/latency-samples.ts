/**
 * Latency samples of a live run: (mod revision, applied at) pairs in typed arrays, since a run
 * records one per delivery (millions at 1,000 watchers), and their summary in the benchmark's terms.
 */
import type { LatencySummary } from "#scripts/bench/types.ts";

const CDF_POINTS = 200;

export class GrowableSamples {
  #revisions: Float64Array<ArrayBuffer> = new Float64Array(1024);
  #appliedAt: Float64Array<ArrayBuffer> = new Float64Array(1024);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(revision: number, appliedAt: number): void {
    if (this.#length === this.#revisions.length) {
      this.#revisions = grown(this.#revisions);
      this.#appliedAt = grown(this.#appliedAt);
    }
    this.#revisions[this.#length] = revision;
    this.#appliedAt[this.#length] = appliedAt;
    this.#length++;
  }

  forEach(visit: (revision: number, appliedAt: number) => void): void {
    for (let i = 0; i < this.#length; i++) visit(this.#revisions[i] as number, this.#appliedAt[i] as number);
  }
}

function grown(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const next = new Float64Array(array.length * 2);
  next.set(array);
  return next;
}

/** Percentiles (nearest rank) and an evenly spaced CDF subsample of the sorted latencies (ms). */
export function summarizeLatencies(latencies: Float64Array): LatencySummary & { cdf: number[] } {
  const sorted = Float64Array.from(latencies).sort();
  const count = sorted.length;
  const at = (q: number): number =>
    count === 0 ? 0 : (sorted[Math.min(count - 1, Math.ceil(q * count) - 1)] ?? 0);
  const cdf: number[] = [];
  const points = Math.min(CDF_POINTS, count);
  for (let i = 0; i < points; i++)
    cdf.push(sorted[Math.floor((i * (count - 1)) / Math.max(1, points - 1))] ?? 0);
  return {
    count,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: count === 0 ? 0 : (sorted[count - 1] ?? 0),
    cdf,
  };
}
