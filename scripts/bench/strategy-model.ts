/**
 * The strategy model: the same trace through every delivery strategy, counting exactly what each
 * would write and deliver to a fleet of watchers (docs/contract.md §6, measurement "model").
 *
 * Three replays of the real core feed the strategies:
 *   A. one event at a time, EndpointSlice placement "kubernetes", CES of 50, baselines on:
 *      per-endpoint and per-endpoint-changed (CiliumEndpoint baseline), per-service (Endpoints baseline), endpointslice-100
 *      and ces-50 (whose CES then go through the operator's rate-limited queue);
 *   B. one event at a time, CES of 100: ces-100 (CiliumEndpoint writes taken from A);
 *   C. ingest batches of the pipeline's window, default settings: sliceline-best (zone-only agents)
 *      and sliceline-best-all-zones (agents at the baselines' scope: whole EndpointSlices).
 * Counts are linear in the fleet's per-zone sizes, so `scaling` reads other fleet sizes off the
 * same pass.
 */
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { parseTrace, type ReplayBatch, replay } from "./model/core-replay.ts";
import { resultOf, round, type StrategyRun } from "./model/strategy-run.ts";
import type { ScalingPoint } from "./report-document.ts";
import { type CesRateLimitTier, cesRateLimitFor, ciliumEndpointSlices } from "./strategies/ces.ts";
import { endpointSlices } from "./strategies/endpointslice.ts";
import { perEndpoint } from "./strategies/per-endpoint.ts";
import { perService } from "./strategies/per-service.ts";
import {
  DEFAULT_SLICELINE_OPTIONS,
  type SlicelineOptions,
  slicelineBest,
} from "./strategies/sliceline-best.ts";
import type { StrategyResult, Trace } from "./types.ts";

export const STRATEGIES = [
  "per-endpoint",
  "per-endpoint-changed",
  "per-service",
  "endpointslice-100",
  "ces-50",
  "ces-100",
  "sliceline-best",
  "sliceline-best-all-zones",
] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface ModelOptions {
  readonly sliceline?: Partial<SlicelineOptions>;
  /** cilium-operator's --ces-rate-limits tiers (default: 10 writes/s, burst 20, at any size). */
  readonly cesRateLimits?: readonly CesRateLimitTier[];
}

export interface ModelPass {
  readonly results: StrategyResult[];
  /** Deliveries and bytes per pod change at other fleet sizes, from the same pass. */
  scaling(watcherCounts: readonly number[]): ScalingPoint[];
  /** Wall-clock time of the pass (ms). */
  readonly elapsedMs: number;
}

interface Strategy {
  readonly run: StrategyRun;
  onBatch(batch: ReplayBatch): void;
  finish(): void;
}

export async function modelStrategies(trace: Trace, options: ModelOptions = {}): Promise<ModelPass> {
  const started = performance.now();
  const parsed = parseTrace(trace);
  const eventsIn = trace.events.length - trace.measuredFrom;
  const sliceline = { ...DEFAULT_SLICELINE_OPTIONS, ...options.sliceline };

  // A: Kubernetes controllers, a sync per event.
  const cepWrites = new Map<number, { writes: number; bytes: number }>();
  const perEvent = [
    perEndpoint(trace, "seed"),
    perEndpoint(trace, "changed"),
    perService(trace),
    endpointSlices(trace, 100),
  ];
  const cesLimit = cesRateLimitFor(trace.scenario.nodes, options.cesRateLimits);
  const ces50 = ciliumEndpointSlices(trace, 50, (i) => cepWrites.get(i), cesLimit);
  await replay(
    trace,
    parsed,
    resolveSlicingSettings({ placement: "kubernetes", maxEndpointsPerCES: 50 }),
    { kind: "event" },
    (batch) => {
      if (batch.measured) {
        let writes = 0;
        let bytes = 0;
        for (const write of batch.baselineWrites) {
          if (write.kind !== "CiliumEndpoint") continue;
          writes++;
          bytes += write.bytes;
        }
        if (writes > 0) cepWrites.set(batch.from, { writes, bytes });
      }
      for (const strategy of perEvent) strategy.onBatch(batch);
      ces50.onBatch(batch);
    },
    { baselines: true },
  );

  // B: the same with CES of 100.
  const ces100 = ciliumEndpointSlices(trace, 100, (i) => cepWrites.get(i), cesLimit);
  await replay(
    trace,
    parsed,
    resolveSlicingSettings({ placement: "kubernetes", maxEndpointsPerCES: 100 }),
    { kind: "event" },
    (batch) => ces100.onBatch(batch),
  );

  // C: the pipeline.
  const best = slicelineBest(trace, sliceline);
  const bestAllZones = slicelineBest(trace, { ...sliceline, zoneOnly: false });
  await replay(
    trace,
    parsed,
    resolveSlicingSettings(),
    { kind: "window", windowMs: sliceline.batchWindowMs },
    (batch) => {
      best.onBatch(batch);
      bestAllZones.onBatch(batch);
    },
    { planCommits: true },
  );

  const strategies: Strategy[] = [...perEvent, ces50, ces100, best, bestAllZones];
  for (const strategy of strategies) strategy.finish();
  const results = strategies.map((strategy) => resultOf(strategy.run, trace, eventsIn));
  return {
    results,
    elapsedMs: Math.round(performance.now() - started),
    scaling(watcherCounts) {
      const points: ScalingPoint[] = [];
      for (const strategy of strategies) {
        for (const watchers of watcherCounts) {
          const figures = strategy.run.tally.figures(watchers);
          const per = (value: number) => (trace.podChanges === 0 ? 0 : round(value / trace.podChanges));
          points.push({
            strategy: strategy.run.strategy,
            watchers,
            deliveriesPerPodChange: per(figures.deliveries),
            bytesPerPodChange: per(figures.bytes),
            peakDeliveriesPerSecond: figures.peakDeliveriesPerSecond,
          });
        }
      }
      return points;
    },
  };
}
