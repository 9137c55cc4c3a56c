/**
 * The benchmark's shared vocabulary: scenarios in, per-strategy results out (docs/contract.md §6).
 * Every module of the benchmark (load generator, strategy model, live pipeline pass, etcd peer,
 * cost model, report) speaks these types and nothing else.
 */
import type { LatencySummary } from "#shared/watcher/latency-recorder.ts";

/** A scenario file (bench/scenarios/*.json) after the scale factor has been applied. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** 1 = the seed's size; the run records the factor it used. */
  readonly scale: number;
  readonly nodes: number;
  readonly zones: readonly string[];
  readonly namespaces: number;
  readonly services: number;
  readonly pods: number;
  /** Pods of the one big Service, if the scenario has one (included in `pods`). */
  readonly bigServicePods: number;
  /** Watchers (node agents) in the fleet; ≤ nodes. */
  readonly watchers: number;
  /** Phases run one after the other after the initial load. */
  readonly phases: readonly ScenarioPhase[];
  readonly seed: number;
}

export type ScenarioPhase =
  | { readonly kind: "churn"; readonly podChangesPerSecond: number; readonly seconds: number }
  | { readonly kind: "rolling-update"; readonly podChangesPerSecond: number; readonly fraction: number }
  | {
      readonly kind: "namespace-label-flip";
      readonly namespaces: number;
      /** The flips are spread over this many seconds (default: all at once). */
      readonly seconds?: number;
      /** Background pod churn while the flips happen (default none). */
      readonly podChangesPerSecond?: number;
    }
  | { readonly kind: "node-heartbeats"; readonly heartbeatsPerSecond: number; readonly seconds: number }
  | {
      readonly kind: "watcher-restart";
      readonly fraction: number;
      /** Re-list backoff: base and cap of the jittered exponential backoff (ms). */
      readonly backoffBaseMs: number;
      readonly backoffCapMs: number;
      /** Churn that keeps going while the fleet restarts. */
      readonly podChangesPerSecond: number;
      readonly seconds: number;
    };

/** One watch event of the trace, with when (ms from trace start) it is sent. */
export interface TraceEvent {
  readonly atMs: number;
  readonly event: {
    readonly type: "ADDED" | "MODIFIED" | "DELETED";
    readonly object: Record<string, unknown>;
  };
  /** true for changes to a Pod (what "per pod change" divides by). */
  readonly podChange: boolean;
  /** Phase index (-1: initial load), for per-phase figures. */
  readonly phase: number;
}

export interface Trace {
  readonly scenario: Scenario;
  readonly events: readonly TraceEvent[];
  /** Index of the first event after the initial load: counts are per pod change after it. */
  readonly measuredFrom: number;
  readonly podChanges: number;
  /** Watchers that restart (watcher-restart phases): when each one re-lists, in trace time. */
  readonly restarts?: readonly WatcherRestart[];
}

export interface WatcherRestart {
  /** Index of the watcher in the fleet; its zone is zones[watcher % zones.length]. */
  readonly watcher: number;
  /** When its process restarted (ms from trace start). */
  readonly restartAtMs: number;
  /** When its re-list happened, after the jittered backoff. */
  readonly relistAtMs: number;
}

export type { LatencySummary };

/** How a strategy's figures were obtained: counted by a model over the trace, or measured live. */
export type Measurement = "model" | "live";

export interface StrategyResult {
  readonly strategy: string;
  readonly description: string;
  readonly measurement: Measurement;
  readonly watchers: number;
  readonly eventsIn: number;
  readonly podChanges: number;
  readonly objectWrites: number;
  readonly deliveries: number;
  readonly bytesDelivered: number;
  readonly deliveriesPerPodChange: number;
  readonly bytesPerPodChange: number;
  /** Deliveries per second at the whole fleet (what the API server / broker must push). */
  readonly peakDeliveriesPerSecond: number;
  readonly latency: LatencySummary;
  /** Latency samples for the CDF (a bounded, evenly spaced subsample, ms). */
  readonly latencyCdf: readonly number[];
  readonly convergedWatchers: number;
  readonly totalWatchers: number;
  /** AWS requests per pod change by kind (for the cost model); empty for non-AWS strategies. */
  readonly awsRequestsPerPodChange: Readonly<Record<string, number>>;
  readonly costPerMillionPodChangesUsd?: number;
  readonly notes?: readonly string[];
  /** Snapshots re-listed by restarting watchers (included in deliveries and bytesDelivered). */
  readonly relists?: { readonly watchers: number; readonly objects: number; readonly bytes: number };
}
