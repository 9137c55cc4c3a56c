/**
 * The parts every modelled strategy shares: its tally, the Kubernetes API server's watch fan-out
 * as a queue, the objects a re-listing watcher would receive, and the result it reports.
 */
import type { StrategyResult, Trace, WatcherRestart } from "#scripts/bench/types.ts";
import { type FleetFigures, FleetTally, latencySummary } from "./fleet-tally.ts";

/**
 * Watch events per second one kube-apiserver sends to its watchers before it falls behind: the
 * seed's "has trouble handling over 100k events/s" on the most powerful VMs.
 */
export const APISERVER_EVENTS_PER_SECOND = 100_000;

/**
 * The API server's watch fan-out as a fluid queue: a write to W watchers adds W events, drained at
 * a fixed rate. A write is delivered everywhere when the queue has drained past it.
 */
export class ApiServerFanout {
  readonly #eventsPerMs: number;
  #backlog = 0;
  #lastMs = 0;

  constructor(eventsPerSecond = APISERVER_EVENTS_PER_SECOND) {
    this.#eventsPerMs = eventsPerSecond / 1000;
  }

  /** Adds a write's events at `atMs`; returns how long until its last watcher has it (ms). */
  push(atMs: number, events: number): number {
    if (atMs > this.#lastMs) {
      this.#backlog = Math.max(0, this.#backlog - (atMs - this.#lastMs) * this.#eventsPerMs);
      this.#lastMs = atMs;
    }
    this.#backlog += events;
    return this.#backlog / this.#eventsPerMs;
  }
}

/** What one re-listing watcher receives: objects and bytes, per zone of the watcher. */
export type Snapshot = (zone: number) => { objects: number; bytes: number };

/** Hands each restart to the strategy once the trace has reached its re-list time. */
export class RelistSchedule {
  readonly #restarts: readonly WatcherRestart[];
  #next = 0;

  constructor(trace: Trace) {
    this.#restarts = trace.restarts ?? [];
  }

  /** Re-lists due by `atMs`, against the state as it is now. */
  runDue(atMs: number, tally: FleetTally, watchers: number, snapshot: Snapshot): void {
    for (;;) {
      const restart = this.#restarts[this.#next];
      if (restart === undefined || restart.relistAtMs > atMs) return;
      this.#next++;
      const zone = restart.watcher % tally.zones;
      const { objects, bytes } = snapshot(zone);
      tally.relist(zone, restart.relistAtMs, objects, bytes, watchers);
    }
  }
}

/** Live objects of a kind whose writes do not name the object: a count and a running mean size. */
export class UnnamedLiveObjects {
  #count = 0;
  #bytesSeen = 0;
  #writesSeen = 0;

  record(op: "create" | "update" | "delete", bytes: number): void {
    if (op === "create") this.#count++;
    if (op === "delete") this.#count--;
    else {
      this.#bytesSeen += bytes;
      this.#writesSeen++;
    }
  }

  /** Mean size of the objects written so far. */
  meanBytes(): number {
    return this.#writesSeen === 0 ? 0 : Math.round(this.#bytesSeen / this.#writesSeen);
  }

  snapshot(): { objects: number; bytes: number } {
    return { objects: this.#count, bytes: this.#count * this.meanBytes() };
  }
}

/** Live objects by key with their exact sizes. */
export class NamedLiveObjects {
  readonly #bytes = new Map<string, number>();
  #total = 0;

  record(key: string, op: "create" | "update" | "delete", bytes: number): void {
    this.#total -= this.#bytes.get(key) ?? 0;
    if (op === "delete") this.#bytes.delete(key);
    else {
      this.#bytes.set(key, bytes);
      this.#total += bytes;
    }
  }

  snapshot(): { objects: number; bytes: number } {
    return { objects: this.#bytes.size, bytes: this.#total };
  }
}

export interface StrategyRun {
  readonly strategy: string;
  readonly description: string;
  readonly tally: FleetTally;
  readonly notes: string[];
  awsRequests?(podChanges: number): Record<string, number>;
}

export function resultOf(run: StrategyRun, trace: Trace, eventsIn: number): StrategyResult {
  const watchers = trace.scenario.watchers;
  const figures: FleetFigures = run.tally.figures(watchers);
  const perPodChange = (value: number) => (trace.podChanges === 0 ? 0 : value / trace.podChanges);
  const { latency, latencyCdf } = latencySummary(run.tally.latencies);
  return {
    strategy: run.strategy,
    description: run.description,
    measurement: "model",
    watchers,
    eventsIn,
    podChanges: trace.podChanges,
    objectWrites: run.tally.objectWrites,
    deliveries: figures.deliveries,
    bytesDelivered: figures.bytes,
    deliveriesPerPodChange: round(perPodChange(figures.deliveries)),
    bytesPerPodChange: round(perPodChange(figures.bytes)),
    peakDeliveriesPerSecond: figures.peakDeliveriesPerSecond,
    latency,
    latencyCdf,
    convergedWatchers: watchers,
    totalWatchers: watchers,
    awsRequestsPerPodChange: run.awsRequests?.(trace.podChanges) ?? {},
    notes: run.notes,
    ...(run.tally.relistWatchers > 0
      ? {
          relists: {
            watchers: run.tally.relistWatchers,
            objects: run.tally.relistObjects,
            bytes: run.tally.relistBytes,
          },
        }
      : {}),
  };
}

export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export { FleetTally };
