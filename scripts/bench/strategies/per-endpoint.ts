/**
 * Cilium without CiliumEndpointSlices: one CiliumEndpoint per pod, carrying its identity's full
 * label list (the core's CiliumEndpoint baseline gives the object and its exact JSON size), plus
 * the CiliumIdentity objects; every node agent watches all of them, so every write goes to every
 * watcher. Two accountings of the writes:
 *   - "per-endpoint": the seed's, "k8s API events = Nodes * Pod changes": one CiliumEndpoint event
 *     per pod change (the agent rewrites its endpoint's status through the pod's life), each of
 *     the mean CiliumEndpoint size, plus the rewrites other events cause (a Namespace relabel);
 *   - "per-endpoint-changed": only the writes that change the object's JSON as the core builds it
 *     (a readiness flip changes nothing in a CiliumEndpoint): a lower bound.
 */
import type { ReplayBatch } from "#scripts/bench/model/core-replay.ts";
import { FleetTally, type StrategyRun, UnnamedLiveObjects } from "#scripts/bench/model/strategy-run.ts";
import type { Trace } from "#scripts/bench/types.ts";
import { Broadcaster } from "./broadcast.ts";

export type PerEndpointAccounting = "seed" | "changed";

export function perEndpoint(
  trace: Trace,
  accounting: PerEndpointAccounting,
): { run: StrategyRun; onBatch(batch: ReplayBatch): void; finish(): void } {
  const tally = new FleetTally(trace.scenario.zones.length);
  const fanout = new Broadcaster(trace, tally);
  const endpoints = new UnnamedLiveObjects();
  const identities = new UnnamedLiveObjects();
  const snapshot = () => {
    const a = endpoints.snapshot();
    const b = identities.snapshot();
    return { objects: a.objects + b.objects, bytes: a.bytes + b.bytes };
  };
  const seed = accounting === "seed";
  return {
    run: {
      strategy: seed ? "per-endpoint" : "per-endpoint-changed",
      description: seed
        ? "One CiliumEndpoint per pod (full labels) plus CiliumIdentities; one CiliumEndpoint event per pod change (the seed's accounting), to every agent"
        : "One CiliumEndpoint per pod (full labels) plus CiliumIdentities; written only when its JSON changes, to every agent",
      tally,
      notes: [
        seed
          ? "Writes: one CiliumEndpoint per pod change, as the seed counts (events = nodes x pod changes), each the mean size of the core's CiliumEndpoint baseline objects written so far; CiliumEndpoints rewritten by other events (a Namespace's labels) as the core's baseline writes them; plus CiliumIdentity writes."
          : "Writes: the core's CiliumEndpoint baseline, one per change of the object's JSON (readiness flips, Pending pods and terminations change none); plus CiliumIdentity writes. A lower bound on what agents write.",
        "Latency: written at the pod change, then the API server's watch fan-out modelled as a queue draining 100k events/s (the seed's limit).",
        "Re-list bytes: live CiliumEndpoints x their mean written size (baseline writes carry no names).",
      ],
    },
    onBatch(batch) {
      fanout.relistsDue(batch, snapshot);
      const podEvents = countPodEvents(trace, batch);
      for (const write of batch.baselineWrites) {
        if (write.kind !== "CiliumEndpoint") continue;
        endpoints.record(write.op, write.bytes);
        // Seed accounting: a pod event is one CiliumEndpoint event whatever changed; endpoints
        // rewritten by other events (a Namespace's labels) are written as the core counts them.
        if (batch.measured && (!seed || podEvents === 0)) fanout.write(batch.atMs, write.bytes);
      }
      if (batch.measured && seed) {
        for (let i = 0; i < podEvents; i++) fanout.write(batch.atMs, endpoints.meanBytes());
      }
      for (const write of batch.report.writes) {
        if (write.kind !== "CiliumIdentity") continue;
        identities.record(write.op, write.bytes);
        if (batch.measured) fanout.write(batch.atMs, write.bytes, write.sourceTimeMs);
      }
    },
    finish: () => fanout.finish(snapshot),
  };
}

function countPodEvents(trace: Trace, batch: ReplayBatch): number {
  let count = 0;
  for (let i = batch.from; i < batch.to; i++) if (trace.events[i]?.podChange) count++;
  return count;
}
