/**
 * What one strategy delivers to a fleet, counted so that any fleet size can be read back exactly.
 *
 * Every delivery is either to each watcher of some zones (a broadcast is all zones) or to a fixed
 * audience that does not grow with the fleet (cilium-operator watching CiliumEndpoints). Watcher i
 * sits in zone i mod Z, so a fleet of W watchers has a known count per zone, and every total is
 * linear in those counts: one pass over a trace gives the figures for W = 100, 1,000 or 5,000.
 */
import type { LatencySummary } from "#scripts/bench/types.ts";

export function watchersInZone(watchers: number, zones: number, zone: number): number {
  return Math.floor(watchers / zones) + (zone < watchers % zones ? 1 : 0);
}

export interface FleetFigures {
  readonly deliveries: number;
  readonly bytes: number;
  readonly peakDeliveriesPerSecond: number;
}

export class FleetTally {
  readonly zones: number;
  objectWrites = 0;
  /** Per watcher of each zone. */
  readonly #unitDeliveries: Float64Array;
  readonly #unitBytes: Float64Array;
  #fixedDeliveries = 0;
  #fixedBytes = 0;
  /** Per second: [fixed, per watcher of zone 0, zone 1, ...]. */
  readonly #buckets = new Map<number, Float64Array>();
  readonly latencies: number[] = [];
  relistWatchers = 0;
  relistObjects = 0;
  relistBytes = 0;

  constructor(zones: number) {
    this.zones = zones;
    this.#unitDeliveries = new Float64Array(zones);
    this.#unitBytes = new Float64Array(zones);
  }

  /** `deliveries` messages of `bytes` in total to every watcher. */
  broadcast(atMs: number, deliveries: number, bytes: number): void {
    for (let zone = 0; zone < this.zones; zone++) this.toZone(zone, atMs, deliveries, bytes);
  }

  /** `deliveries` messages of `bytes` in total to every watcher of one zone. */
  toZone(zone: number, atMs: number, deliveries: number, bytes: number): void {
    this.#unitDeliveries[zone] = (this.#unitDeliveries[zone] as number) + deliveries;
    this.#unitBytes[zone] = (this.#unitBytes[zone] as number) + bytes;
    const bucket = this.#bucket(atMs);
    bucket[zone + 1] = (bucket[zone + 1] as number) + deliveries;
  }

  /** Deliveries to an audience that does not grow with the fleet. */
  toFixed(atMs: number, deliveries: number, bytes: number): void {
    this.#fixedDeliveries += deliveries;
    this.#fixedBytes += bytes;
    const bucket = this.#bucket(atMs);
    bucket[0] = (bucket[0] as number) + deliveries;
  }

  /** One watcher's re-list, scaled to a per-watcher unit of its zone (fleet of `watchers`). */
  relist(zone: number, atMs: number, objects: number, bytes: number, watchers: number): void {
    const share = 1 / watchersInZone(watchers, this.zones, zone);
    this.toZone(zone, atMs, objects * share, bytes * share);
    this.relistWatchers++;
    this.relistObjects += objects;
    this.relistBytes += bytes;
  }

  figures(watchers: number): FleetFigures {
    const counts = Array.from({ length: this.zones }, (_, z) => watchersInZone(watchers, this.zones, z));
    let deliveries = this.#fixedDeliveries;
    let bytes = this.#fixedBytes;
    for (let z = 0; z < this.zones; z++) {
      deliveries += (counts[z] as number) * (this.#unitDeliveries[z] as number);
      bytes += (counts[z] as number) * (this.#unitBytes[z] as number);
    }
    let peak = 0;
    for (const bucket of this.#buckets.values()) {
      let perSecond = bucket[0] as number;
      for (let z = 0; z < this.zones; z++) perSecond += (counts[z] as number) * (bucket[z + 1] as number);
      peak = Math.max(peak, perSecond);
    }
    return {
      deliveries: Math.round(deliveries),
      bytes: Math.round(bytes),
      peakDeliveriesPerSecond: Math.round(peak),
    };
  }

  #bucket(atMs: number): Float64Array {
    const second = Math.floor(atMs / 1000);
    let bucket = this.#buckets.get(second);
    if (bucket === undefined) {
      bucket = new Float64Array(this.zones + 1);
      this.#buckets.set(second, bucket);
    }
    return bucket;
  }
}

const CDF_POINTS = 101;

export function latencySummary(samples: readonly number[]): {
  latency: LatencySummary;
  latencyCdf: number[];
} {
  if (samples.length === 0) {
    return { latency: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 }, latencyCdf: [] };
  }
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) =>
    round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
  return {
    latency: {
      count: sorted.length,
      p50Ms: at(0.5),
      p90Ms: at(0.9),
      p99Ms: at(0.99),
      maxMs: round(sorted[sorted.length - 1] as number),
    },
    latencyCdf: Array.from({ length: CDF_POINTS }, (_, i) => at(i / (CDF_POINTS - 1))),
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
