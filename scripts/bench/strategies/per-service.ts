/**
 * "per-service": the pre-EndpointSlice way. One v1 Endpoints object per Service holding all of its
 * backends (the core's Endpoints baseline), rewritten whole on every change of the Service's
 * endpoints and sent whole to every kube-proxy.
 */

import { endpointsFromSlices } from "#scripts/bench/baselines/endpoints-v1.ts";
import type { ReplayBatch } from "#scripts/bench/model/core-replay.ts";
import { FleetTally, type StrategyRun } from "#scripts/bench/model/strategy-run.ts";
import type { Trace } from "#scripts/bench/types.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { jsonBytes } from "#shared/core/output-changes.ts";
import { Broadcaster } from "./broadcast.ts";

export function perService(trace: Trace): {
  run: StrategyRun;
  onBatch(batch: ReplayBatch): void;
  finish(): void;
} {
  const tally = new FleetTally(trace.scenario.zones.length);
  const fanout = new Broadcaster(trace, tally);
  // The cluster's Endpoints objects as of the end of the initial load: what a re-list returns.
  let loaded: Map<string, EndpointSlice> | undefined = new Map();
  let listed = { objects: 0, bytes: 0 };
  const snapshot = () => listed;
  return {
    run: {
      strategy: "per-service",
      description:
        "One v1 Endpoints object per Service, rewritten whole on every change, to every kube-proxy",
      tally,
      notes: [
        "Writes are the core's Endpoints baseline, one sync per change (the controller's default: no batch period).",
        "No 1,000-address truncation (Kubernetes >= 1.22 truncates Endpoints over 1,000 addresses): the untruncated object is what the seed's 100k-endpoint Service hit (3 MiB etcd limit).",
        "Latency: written at the change, then the API server's watch fan-out queue (100k events/s); the queue counts events, not bytes, so a multi-MB Endpoints object costs it no more than a small one (optimistic for big Services).",
        "Re-list bytes: every Endpoints object as built at the end of the initial load.",
      ],
    },
    onBatch(batch) {
      if (!batch.measured && loaded !== undefined) {
        for (const write of batch.report.writes) {
          if (write.kind !== "EndpointSlice") continue;
          const key = `${write.object.metadata.namespace}/${write.object.metadata.name}`;
          if (write.op === "delete") loaded.delete(key);
          else loaded.set(key, write.object as EndpointSlice);
        }
        return;
      }
      if (loaded !== undefined) {
        listed = endpointsSnapshot(loaded);
        loaded = undefined;
      }
      fanout.relistsDue(batch, snapshot);
      for (const write of batch.baselineWrites) {
        if (write.kind === "Endpoints") fanout.write(batch.atMs, write.bytes);
      }
    },
    finish: () => fanout.finish(snapshot),
  };
}

function endpointsSnapshot(slices: ReadonlyMap<string, EndpointSlice>): { objects: number; bytes: number } {
  const byService = new Map<string, EndpointSlice[]>();
  for (const slice of slices.values()) {
    const key = `${slice.metadata.namespace}/${slice.metadata.labels["kubernetes.io/service-name"]}`;
    byService.set(key, [...(byService.get(key) ?? []), slice]);
  }
  let bytes = 0;
  for (const [key, own] of byService) {
    const [namespace, name] = key.split("/") as [string, string];
    bytes += jsonBytes(endpointsFromSlices(namespace, name, own));
  }
  return { objects: byService.size, bytes };
}
