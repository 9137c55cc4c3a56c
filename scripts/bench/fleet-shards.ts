/**
 * The live pass's fleet, split over worker threads (fleet-worker.ts): N agents in K shards of
 * contiguous node indexes, driven as one fleet. Every command goes to all shards at once; their
 * answers are merged as if one fleet had answered (counts add, latencies merge as histograms,
 * messages per second add second by second, restart recoveries pool).
 */
import type { LatencySummary } from "#scripts/bench/types.ts";
import { LatencyRecorder, type LatencySnapshot } from "#shared/watcher/latency-recorder.ts";
import { type BackoffPolicy, mergeRestartReports, type RestartReport } from "./fleet.ts";
import {
  type FleetCommand,
  type FleetReply,
  FleetWorker,
  type FleetWorkerData,
  type ShardSettleReport,
} from "./fleet-worker.ts";

export interface FleetShardsOptions
  extends Omit<FleetWorkerData, "firstIndex" | "watchers" | "joinConcurrency"> {
  readonly watchers: number;
  /** Worker threads (at most one per agent). */
  readonly workers: number;
  /** Registrations and lists in flight at once over the whole fleet. */
  readonly joinConcurrency: number;
}

export interface FleetSettleReport {
  readonly converged: number;
  readonly total: number;
  readonly settleMs: number;
  readonly messages: number;
  readonly bytes: number;
  readonly objectsRead: number;
  readonly bytesRead: number;
  /** Most messages the whole fleet received in one wall-clock second since reset-counters. */
  readonly peakMessagesPerSecond: number;
  readonly gapsRefetched: number;
  readonly pollErrors: number;
  /** Watcher-queue requests of the whole fleet: receives that returned messages, delete batches. */
  readonly queueRequests: { readonly receives: number; readonly deletes: number };
  readonly latency: LatencySummary;
  readonly latencyCdf: readonly number[];
  /** Where the time went, per applied change (fleet-worker.ts StageSnapshots). */
  readonly stages: {
    readonly toQueue: LatencySummary;
    readonly inQueue: LatencySummary;
    readonly apply: LatencySummary;
  };
  /** Heap in use, all shards together. */
  readonly heapUsedMb: number;
}

type Progress = (stage: string, done: number, total: number) => void;

export class FleetShards {
  readonly #shards: FleetWorker[];

  constructor(options: FleetShardsOptions, onProgress: Progress) {
    const sizes = shardSizes(options.watchers, options.workers);
    const done = new Map<string, number[]>();
    const { workers: _, ...common } = options;
    let firstIndex = 0;
    this.#shards = sizes.map((watchers, shard) => {
      const data: FleetWorkerData = {
        ...common,
        firstIndex,
        watchers,
        joinConcurrency: Math.max(1, Math.ceil(options.joinConcurrency / sizes.length)),
      };
      firstIndex += watchers;
      return new FleetWorker(data, (stage, shardDone) => {
        const counts = done.get(stage) ?? sizes.map(() => 0);
        counts[shard] = shardDone;
        done.set(stage, counts);
        onProgress(
          stage,
          counts.reduce((sum, n) => sum + n, 0),
          options.watchers,
        );
      });
    });
  }

  get workers(): number {
    return this.#shards.length;
  }

  /** Registers and lists every agent; resolves with the slowest shard's time. */
  async join(): Promise<number> {
    const replies = await this.#all({ type: "join" });
    return Math.max(...replies.map((reply) => (reply.type === "joined" ? reply.ms : 0)));
  }

  async resetCounters(): Promise<void> {
    await this.#all({ type: "reset-counters" });
  }

  async restart(fraction: number, backoff: BackoffPolicy): Promise<RestartReport> {
    const replies = await this.#all({ type: "restart", fraction, backoff });
    return mergeRestartReports(
      replies.flatMap((reply) => (reply.type === "restarted" ? [reply.report] : [])),
    );
  }

  async settle(timeoutMs: number): Promise<FleetSettleReport> {
    const replies = await this.#all({ type: "settle", timeoutMs });
    const reports = replies.map((reply) => {
      if (reply.type !== "settled") throw new Error(`fleet shard answered ${reply.type} to settle`);
      return reply.report;
    });
    return mergeSettleReports(reports);
  }

  async stop(): Promise<void> {
    await this.#all({ type: "stop" });
  }

  /** CPU time of all the fleet's worker threads so far (µs). */
  async cpuUs(): Promise<number> {
    const each = await Promise.all(this.#shards.map((shard) => shard.cpuUs()));
    return each.reduce((sum, us) => sum + us, 0);
  }

  async terminate(): Promise<void> {
    await Promise.all(this.#shards.map((shard) => shard.terminate()));
  }

  #all(command: FleetCommand): Promise<FleetReply[]> {
    return Promise.all(this.#shards.map((shard) => shard.send(command)));
  }
}

/** N agents over K shards, as evenly as they go (the first shards take the remainder). */
export function shardSizes(watchers: number, workers: number): number[] {
  const count = Math.max(1, Math.min(workers, watchers));
  const base = Math.floor(watchers / count);
  return Array.from({ length: count }, (_, i) => base + (i < watchers % count ? 1 : 0));
}

export function mergeSettleReports(reports: readonly ShardSettleReport[]): FleetSettleReport {
  const sum = (field: (report: ShardSettleReport) => number) =>
    reports.reduce((total, report) => total + field(report), 0);
  const merged = (pick: (report: ShardSettleReport) => LatencySnapshot) => {
    const recorder = new LatencyRecorder();
    for (const report of reports) recorder.mergeSnapshot(pick(report));
    return recorder;
  };
  const perSecond = new Map<number, number>();
  for (const report of reports)
    for (const [second, count] of Object.entries(report.messagesPerSecond))
      perSecond.set(Number(second), (perSecond.get(Number(second)) ?? 0) + count);
  const latency = merged((report) => report.latency);
  return {
    converged: sum((report) => report.converged),
    total: sum((report) => report.total),
    settleMs: Math.max(0, ...reports.map((report) => report.settleMs)),
    messages: sum((report) => report.messages),
    bytes: sum((report) => report.bytes),
    objectsRead: sum((report) => report.objectsRead),
    bytesRead: sum((report) => report.bytesRead),
    peakMessagesPerSecond: Math.max(0, ...perSecond.values()),
    gapsRefetched: sum((report) => report.gapsRefetched),
    pollErrors: sum((report) => report.pollErrors),
    queueRequests: {
      receives: sum((report) => report.queueRequests.receives),
      deletes: sum((report) => report.queueRequests.deletes),
    },
    latency: latency.summary(),
    latencyCdf: latency.cdf(201),
    stages: {
      toQueue: merged((report) => report.stages.toQueue).summary(),
      inQueue: merged((report) => report.stages.inQueue).summary(),
      apply: merged((report) => report.stages.apply).summary(),
    },
    heapUsedMb: sum((report) => report.heapUsedMb),
  };
}
