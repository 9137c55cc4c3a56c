/**
 * "endpointslice-100": Kubernetes' EndpointSlice controller with maxEndpointsPerSlice 100 and its
 * default --endpointslice-updates-batch-period of 0: a sync per Service change, writing each slice
 * that changed (the core's EndpointSlices with the upstream placement), each write to every
 * kube-proxy (no topology subsetting: kube-proxy watches all slices).
 */
import type { ReplayBatch } from "#scripts/bench/model/core-replay.ts";
import { FleetTally, NamedLiveObjects, type StrategyRun } from "#scripts/bench/model/strategy-run.ts";
import type { Trace } from "#scripts/bench/types.ts";
import { Broadcaster } from "./broadcast.ts";

export function endpointSlices(
  trace: Trace,
  maxEndpointsPerSlice: number,
): { run: StrategyRun; onBatch(batch: ReplayBatch): void; finish(): void } {
  const tally = new FleetTally(trace.scenario.zones.length);
  const fanout = new Broadcaster(trace, tally);
  const live = new NamedLiveObjects();
  const snapshot = live.snapshot.bind(live);
  return {
    run: {
      strategy: `endpointslice-${maxEndpointsPerSlice}`,
      description: `Kubernetes EndpointSlices of ${maxEndpointsPerSlice}, one write per changed slice per sync, to every kube-proxy`,
      tally,
      notes: [
        'Writes are the core\'s EndpointSlices with placement "kubernetes", synced once per source event (no batch period).',
        "Latency: written at the change, then the API server's watch fan-out queue (100k events/s).",
      ],
    },
    onBatch(batch) {
      fanout.relistsDue(batch, snapshot);
      for (const write of batch.report.writes) {
        if (write.kind !== "EndpointSlice") continue;
        live.record(
          `${write.object.metadata.namespace}/${write.object.metadata.name}`,
          write.op,
          write.bytes,
        );
        if (batch.measured) fanout.write(batch.atMs, write.bytes, write.sourceTimeMs);
      }
    },
    finish: () => fanout.finish(snapshot),
  };
}
