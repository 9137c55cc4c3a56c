/**
 * The core on its own: replays a small cluster's watch traffic through the slicing engine (in
 * memory, no AWS) and prints the slices, identities and what each change cost in writes.
 *
 *   npm run demo
 */

import { BaselineObserver, type BaselineWrite } from "#scripts/bench/baselines/baseline-observer.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine, type SourcedEvent } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

const settings = resolveSlicingSettings();
const store = new MemoryClusterStore(settings);
const baselines = new BaselineObserver();
const engine = new SliceEngine({ settings, store, observer: baselines });
const sim = new ClusterSimulator(1000);
const allWrites: ObjectWrite[] = [];
const allBaselineWrites: BaselineWrite[] = [];
let podChanges = 0;

async function phase(title: string, events: SimEvent[], batchSize = 50): Promise<void> {
  const writes: ObjectWrite[] = [];
  let stale = 0;
  let unchanged = 0;
  for (let i = 0; i < events.length; i += batchSize) {
    // Through the same parser the ingest Lambda uses: what the demo feeds is real watch JSON.
    const body = JSON.stringify({ events: events.slice(i, i + batchSize) });
    const parsed = parseMessageBody(body);
    if (parsed.rejected.length > 0) throw new Error(parsed.rejected.map((r) => r.reason).join("; "));
    const batch: SourcedEvent[] = parsed.events.map((event) => ({ event, sourceTimeMs: Date.now() }));
    const report = await engine.applyBatch(batch);
    writes.push(...report.writes);
    allWrites.push(...report.writes);
    allBaselineWrites.push(...baselines.drain());
    podChanges += parsed.events.filter((e) => e.object.kind === "Pod").length;
    stale += report.stale;
    unchanged += report.unchanged;
  }
  const count = (kind: string) => writes.filter((w) => w.kind === kind).length;
  console.log(
    `${title.padEnd(46)} events ${String(events.length).padStart(4)}  ` +
      `EndpointSlice writes ${String(count("EndpointSlice")).padStart(3)}  ` +
      `CES writes ${String(count("CiliumEndpointSlice")).padStart(3)}  ` +
      `identity writes ${String(count("CiliumIdentity")).padStart(2)}  ` +
      `(no-op ${unchanged}, stale ${stale})`,
  );
}

const zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
const setup: SimEvent[] = [];
for (let i = 0; i < 6; i++) setup.push(sim.addNode(`node-${i}`, zones[i % 3]));
setup.push(sim.addNamespace("shop", { team: "storefront" }));
setup.push(sim.addNamespace("payments", { team: "money", "pci-scope": "true" }));
setup.push(
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
  }),
);
await phase("cluster setup (6 nodes, 2 namespaces, 3 Services)", setup);

function deploy(namespace: string, app: string, replicas: number, hash: string): SimEvent[] {
  const events: SimEvent[] = [];
  for (let i = 0; i < replicas; i++) {
    const name = `${app}-${hash}-${i}`;
    events.push(sim.createPod(namespace, name, { app, "pod-template-hash": hash }, `node-${i % 6}`));
    events.push(sim.startPod(namespace, name));
    events.push(sim.setPodReady(namespace, name, true));
  }
  return events;
}

await phase("deploy web (150), cart (60), ledger (40)", [
  ...deploy("shop", "web", 150, "7d4b9"),
  ...deploy("shop", "cart", 60, "5c8f2"),
  ...deploy("payments", "ledger", 40, "9a1e3"),
]);

const heartbeats: SimEvent[] = [];
for (let round = 0; round < 5; round++)
  for (let i = 0; i < 6; i++) heartbeats.push(sim.heartbeatNode(`node-${i}`));
await phase("30 Node heartbeats", heartbeats);

await phase("one web pod becomes not ready", [sim.setPodReady("shop", "web-7d4b9-3", false)]);
await phase(
  "20 pod annotation updates",
  Array.from({ length: 20 }, (_, i) => sim.annotatePod("shop", `web-7d4b9-${i}`)),
);

const rolling: SimEvent[] = [];
for (let i = 0; i < 150; i++) {
  const name = `web-8e0c1-${i}`;
  rolling.push(sim.createPod("shop", name, { app: "web", "pod-template-hash": "8e0c1" }, `node-${i % 6}`));
  rolling.push(sim.startPod("shop", name), sim.setPodReady("shop", name, true));
  rolling.push(sim.terminatePod("shop", `web-7d4b9-${i}`), sim.deletePod("shop", `web-7d4b9-${i}`));
}
await phase("rolling update of web (150 pods)", rolling);
await phase("namespace label flip (identity storm)", [sim.relabelNamespace("payments", { team: "finance" })]);

const duplicated = rolling.slice(-40).reverse();
await phase("40 duplicate, reordered old events", duplicated);

console.log("\nEndpointSlices (kubectl get endpointslices -A):");
console.log("NAMESPACE  NAME              ADDRESSTYPE  PORTS  ENDPOINTS  READY");
for (const { object } of store.objects("EndpointSlice").values()) {
  const slice = object as EndpointSlice;
  const ready = slice.endpoints.filter((e) => e.conditions.ready).length;
  console.log(
    `${slice.metadata.namespace.padEnd(10)} ${slice.metadata.name.padEnd(17)} ${slice.addressType.padEnd(12)} ` +
      `${slice.ports
        .map((p) => p.port)
        .join(",")
        .padEnd(6)} ${String(slice.endpoints.length).padEnd(10)} ${ready}`,
  );
}

console.log("\nCiliumEndpointSlices:");
for (const { object } of store.objects("CiliumEndpointSlice").values()) {
  const ces = object as CiliumEndpointSlice;
  const ids = new Set(ces.endpoints.map((e) => e.id));
  console.log(
    `  ${ces.metadata.name.padEnd(24)} namespace=${ces.namespace.padEnd(9)} endpoints=${String(ces.endpoints.length).padStart(3)} identities=${[...ids].join(",")}`,
  );
}

console.log("\nCiliumIdentities:");
for (const { object } of store.objects("CiliumIdentity").values()) {
  const identity = object as CiliumIdentity;
  console.log(
    `  ${identity.metadata.name.padEnd(6)} ${Object.entries(identity["security-labels"])
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
  );
}

console.log(`\nThe same ${podChanges} pod events, written four ways (objects every watching node receives):`);
const strategies: Array<[string, Array<{ bytes: number }>]> = [
  ["CiliumEndpoint per pod (full labels)", allBaselineWrites.filter((w) => w.kind === "CiliumEndpoint")],
  ["v1 Endpoints per Service", allBaselineWrites.filter((w) => w.kind === "Endpoints")],
  ["EndpointSlice (max 100)", allWrites.filter((w) => w.kind === "EndpointSlice")],
  [
    "CiliumEndpointSlice (max 50) + identities",
    allWrites.filter((w) => w.kind === "CiliumEndpointSlice" || w.kind === "CiliumIdentity"),
  ],
];
for (const [name, writes] of strategies) {
  const bytes = writes.reduce((sum, w) => sum + w.bytes, 0);
  console.log(
    `  ${name.padEnd(42)} writes ${String(writes.length).padStart(5)}   bytes ${String(bytes).padStart(9)}   ` +
      `bytes per pod event ${(bytes / podChanges).toFixed(0).padStart(6)}`,
  );
}
