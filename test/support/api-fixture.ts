/**
 * A small, fully derived cluster for the API's tests: watch events from the simulator through the
 * real parser and slice engine into a MemoryClusterStore, with a fixed clock so creation times,
 * ages and resourceVersions are reproducible. Small slice sizes give several slices per Service,
 * so paging has something to page through.
 */

import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

export const FIXTURE_TIME_MS = Date.parse("2026-11-25T12:00:00Z");

export interface ApiFixture {
  readonly store: MemoryClusterStore;
  readonly sim: ClusterSimulator;
  /** Every object write the engine made, in order (what a persistent store would hold). */
  readonly writes: ObjectWrite[];
  apply(events: readonly SimEvent[]): Promise<void>;
}

export async function apiFixture(): Promise<ApiFixture> {
  const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 2, maxEndpointsPerCES: 3 });
  const store = new MemoryClusterStore(settings);
  const engine = new SliceEngine({ settings, store, nowMs: () => FIXTURE_TIME_MS });
  const sim = new ClusterSimulator(100);
  const writes: ObjectWrite[] = [];
  const apply = async (events: readonly SimEvent[]): Promise<void> => {
    const parsed = parseMessageBody(JSON.stringify({ events }));
    if (parsed.rejected.length > 0) throw new Error(parsed.rejected.map((r) => r.reason).join("; "));
    const report = await engine.applyBatch(
      parsed.events.map((event) => ({ event, sourceTimeMs: FIXTURE_TIME_MS })),
    );
    writes.push(...report.writes);
  };

  const events: SimEvent[] = [
    sim.addNode("node-a", "zone-a"),
    sim.addNode("node-b", "zone-b"),
    sim.addNamespace("shop", { team: "storefront" }),
    sim.addNamespace("payments", { team: "money" }),
    sim.addNamespace("kube-system"),
    sim.upsertService({
      namespace: "shop",
      name: "web",
      selector: { app: "web" },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    }),
    sim.upsertService({
      namespace: "shop",
      name: "cart",
      selector: { app: "cart" },
      ports: [{ name: "grpc", port: 9000, targetPort: 9000, protocol: "TCP" }],
    }),
    sim.upsertService({
      namespace: "payments",
      name: "ledger",
      selector: { app: "ledger" },
      ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
      ipFamilies: ["IPv4", "IPv6"],
    }),
  ];
  const pod = (
    namespace: string,
    name: string,
    labels: Record<string, string>,
    node: string,
    dualStack = false,
  ) => {
    events.push(sim.createPod(namespace, name, labels, node));
    events.push(sim.startPod(namespace, name, { dualStack }));
    events.push(sim.setPodReady(namespace, name, true));
  };
  for (let i = 0; i < 5; i++)
    pod("shop", `web-${i}`, { app: "web", tier: "front" }, i % 2 ? "node-b" : "node-a");
  for (let i = 0; i < 3; i++) pod("shop", `cart-${i}`, { app: "cart", tier: "back" }, "node-a");
  for (let i = 0; i < 2; i++) pod("payments", `ledger-${i}`, { app: "ledger" }, "node-b", true);
  events.push(sim.createPod("kube-system", "agent", { app: "agent" }, "node-a", { hostNetwork: true }));
  events.push(sim.startPod("kube-system", "agent"), sim.setPodReady("kube-system", "agent", true));
  events.push(sim.createPod("shop", "job-1", { app: "job" }, "node-b"));
  events.push(sim.startPod("shop", "job-1"), sim.finishPod("shop", "job-1", "Succeeded"));
  await apply(events);
  return { store, sim, writes, apply };
}
