/**
 * Propagation latency (source event -> change applied at the watcher), per applied change.
 *
 * Node's own HDR histogram (perf_hooks.createHistogram, HdrHistogram_c inside) rather than a new
 * dependency (hdr-histogram-js would be the npm choice) or an exact recorder: memory is fixed
 * (~tens of KB) whatever the count, which matters for a fleet of 1,000 agents each recording
 * every change, histograms of several agents add up exactly (merge), and 3 significant figures
 * keep every quantile within 0.1% of the exact value. Values are recorded in microseconds (it
 * stores integers ≥ 1); a negative latency (clocks of two machines) counts as 0, one above an
 * hour as an hour (both counted, so a report can say so).
 *
 * Size, measured (RSS of 1,000 histograms): ~140 KB each at 3 figures, ~30 KB at 2 (1%). A fleet
 * of agents in one process should hand them one shared recorder (WatcherAgentOptions.latency).
 */
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";

/** Percentiles of one latency distribution (ms); the benchmark's reports carry it as is. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const HIGHEST_US = 3_600_000_000;

/**
 * A recorder's samples as they cross a MessagePort (a fleet split over worker threads): Node's
 * histograms are cloneable by postMessage, the recorder's private fields are not.
 */
export interface LatencySnapshot {
  readonly histogram: RecordableHistogram;
  readonly negative: number;
  readonly capped: number;
}

export interface LatencyRecorderOptions {
  /** Significant figures kept (1..5, default 3: quantiles within 0.1%). */
  readonly figures?: number;
}

export class LatencyRecorder {
  readonly #histogram: RecordableHistogram;
  #negative = 0;
  #capped = 0;

  constructor(options: LatencyRecorderOptions = {}) {
    this.#histogram = createHistogram({ lowest: 1, highest: HIGHEST_US, figures: options.figures ?? 3 });
  }

  record(latencyMs: number): void {
    if (!Number.isFinite(latencyMs)) return;
    if (latencyMs < 0) this.#negative++;
    const us = Math.round(latencyMs * 1000);
    if (us > HIGHEST_US) this.#capped++;
    this.#histogram.record(Math.min(HIGHEST_US, Math.max(1, us)));
  }

  /** Adds another recorder's samples (a fleet's summary from its agents'). */
  merge(other: LatencyRecorder): void {
    this.mergeSnapshot(other.snapshot());
  }

  /** The samples so far, to post to another thread (the histogram is cloned by postMessage). */
  snapshot(): LatencySnapshot {
    return { histogram: this.#histogram, negative: this.#negative, capped: this.#capped };
  }

  /** Adds a snapshot's samples (one received from another thread, or another recorder's). */
  mergeSnapshot(snapshot: LatencySnapshot): void {
    this.#histogram.add(snapshot.histogram);
    this.#negative += snapshot.negative;
    this.#capped += snapshot.capped;
  }

  get count(): number {
    return this.#histogram.count;
  }

  /** Samples that were below 0 (recorded as 0) or above an hour (recorded as an hour). */
  get outOfRange(): { negative: number; capped: number } {
    return { negative: this.#negative, capped: this.#capped };
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 };
    return {
      count: this.count,
      p50Ms: this.quantileMs(50),
      p90Ms: this.quantileMs(90),
      p99Ms: this.quantileMs(99),
      maxMs: toMs(this.#histogram.max),
    };
  }

  /** The value at `percentile` (0..100]: the smallest recorded value with that share at or below it. */
  quantileMs(percentile: number): number {
    if (this.count === 0) return 0;
    return toMs(this.#histogram.percentile(Math.min(100, Math.max(Number.MIN_VALUE, percentile))));
  }

  /**
   * A bounded CDF: `points` values at evenly spaced percentiles, the first the minimum and the last
   * the maximum (StrategyResult.latencyCdf).
   */
  cdf(points = 101): number[] {
    if (this.count === 0) return [];
    const n = Math.max(2, Math.floor(points));
    const values: number[] = [toMs(this.#histogram.min)];
    for (let i = 1; i < n; i++) values.push(this.quantileMs((i / (n - 1)) * 100));
    return values;
  }

  reset(): void {
    this.#histogram.reset();
    this.#negative = 0;
    this.#capped = 0;
  }
}

function toMs(us: number): number {
  return us <= 1 ? 0 : us / 1000;
}
