/**
 * npm run bench:core — the slicing core alone, in memory, on this machine:
 *   - events/s while loading a cluster and under steady pod churn,
 *   - time per churn event at a small and a large cluster in the same run (no O(n) work per event),
 *   - retained heap per tracked pod at the large size (slim caches).
 *
 * Options: --small 10000 --large 200000 --churn 20000 --batch 10 --out bench-results
 * Writes bench-results/core-<timestamp>.json and prints a report.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine, type SourcedEvent } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import type { WatchEvent } from "#shared/k8s/watch-event-schema.ts";

const { values: args } = parseArgs({
  options: {
    small: { type: "string", default: "10000" },
    large: { type: "string", default: "200000" },
    churn: { type: "string", default: "20000" },
    batch: { type: "string", default: "10" },
    out: { type: "string", default: "bench-results" },
  },
});
const PODS_PER_SERVICE = 50;
const SERVICES_PER_NAMESPACE = 20;
const PODS_PER_NODE = 40;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc (npm run bench:core does)");

function settle(): number {
  for (let i = 0; i < 4; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

/** Builds a cluster of `pods` ready pods in Services of 50, 20 Services a namespace, 40 pods a node. */
function* clusterEvents(sim: ClusterSimulator, pods: number): Generator<SimEvent> {
  const nodes = Math.ceil(pods / PODS_PER_NODE);
  for (let n = 0; n < nodes; n++) yield sim.addNode(`node-${n}`, `zone-${n % 3}`);
  const services = Math.ceil(pods / PODS_PER_SERVICE);
  for (let s = 0; s < services; s++) {
    const namespace = `ns-${Math.floor(s / SERVICES_PER_NAMESPACE)}`;
    if (s % SERVICES_PER_NAMESPACE === 0) yield sim.addNamespace(namespace, { team: `team-${s % 7}` });
    yield sim.upsertService({
      namespace,
      name: `svc-${s}`,
      selector: { app: `svc-${s}` },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    });
    for (let i = 0; i < PODS_PER_SERVICE; i++) {
      const name = `svc-${s}-${i}`;
      const node = `node-${(s * PODS_PER_SERVICE + i) % nodes}`;
      yield sim.createPod(namespace, name, { app: `svc-${s}`, "pod-template-hash": "5d8f7c" }, node);
      yield sim.startPod(namespace, name);
      yield sim.setPodReady(namespace, name, true);
    }
  }
}

/** Steady churn: readiness flips and pod replacements on random pods, like a busy cluster. */
function churnEvents(sim: ClusterSimulator, pods: number, count: number, seed: number): SimEvent[] {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const services = Math.ceil(pods / PODS_PER_SERVICE);
  const nodes = Math.ceil(pods / PODS_PER_NODE);
  // The current pod name in each (service, replica) slot; a replacement takes over its slot.
  const slots = Array.from({ length: services }, (_, s) =>
    Array.from({ length: PODS_PER_SERVICE }, (_, i) => `svc-${s}-${i}`),
  );
  const events: SimEvent[] = [];
  let replacements = 0;
  while (events.length < count) {
    const s = Math.floor(random() * services);
    const i = Math.floor(random() * PODS_PER_SERVICE);
    const namespace = `ns-${Math.floor(s / SERVICES_PER_NAMESPACE)}`;
    const name = slots[s]?.[i] as string;
    const pod = sim.pods.get(`${namespace}/${name}`);
    if (pod === undefined) throw new Error(`lost track of ${namespace}/${name}`);
    if (random() < 0.6) {
      events.push(sim.setPodReady(namespace, name, !pod.ready));
      continue;
    }
    const replacement = `svc-${s}-${i}-r${replacements++}`;
    const node = `node-${Math.floor(random() * nodes)}`;
    events.push(sim.createPod(namespace, replacement, { ...pod.labels }, node));
    events.push(sim.startPod(namespace, replacement), sim.setPodReady(namespace, replacement, true));
    events.push(sim.terminatePod(namespace, name), sim.deletePod(namespace, name));
    (slots[s] as string[])[i] = replacement;
  }
  return events.slice(0, count);
}

/** Batches as SQS bodies would carry them: serialized, so the engine keeps strings of its own. */
function parsedBatches(events: SimEvent[], batchSize: number): WatchEvent[][] {
  const batches: WatchEvent[][] = [];
  for (let i = 0; i < events.length; i += batchSize) {
    const parsed = parseMessageBody(JSON.stringify({ events: events.slice(i, i + batchSize) }), {
      maxEventBytes: Number.POSITIVE_INFINITY,
    });
    if (parsed.rejected.length > 0) throw new Error(`invalid simulated event: ${parsed.rejected[0]?.reason}`);
    batches.push(parsed.events);
  }
  return batches;
}

async function applyBatches(engine: SliceEngine, batches: WatchEvent[][]): Promise<number> {
  const started = process.hrtime.bigint();
  for (const batch of batches) {
    await engine.applyBatch(batch.map((event): SourcedEvent => ({ event, sourceTimeMs: 0 })));
  }
  return Number(process.hrtime.bigint() - started) / 1e6;
}

interface SizeResult {
  pods: number;
  loadEvents: number;
  loadMs: number;
  loadEventsPerSecond: number;
  churnEvents: number;
  churnMs: number;
  churnEventsPerSecond: number;
  microsecondsPerChurnEvent: number;
  retainedHeapBytes: number;
  retainedHeapBytesPerPod: number;
  endpointSlices: number;
  ciliumEndpointSlices: number;
  identities: number;
}

async function measure(pods: number, churn: number, batchSize: number): Promise<SizeResult> {
  const sim = new ClusterSimulator();
  const settings = resolveSlicingSettings();
  // Outputs go to storage (DynamoDB in AWS): the store keeps only their versions, so the heap
  // measured is the core's own state.
  let store: MemoryClusterStore | undefined = new MemoryClusterStore(settings, { keepObjects: false });
  let engine: SliceEngine | undefined = new SliceEngine({ settings, store });

  // Load in slices of the trace, so the serialized trace never has to sit in memory whole.
  let loadEvents = 0;
  let loadMs = 0;
  let chunk: SimEvent[] = [];
  for (const event of clusterEvents(sim, pods)) {
    chunk.push(event);
    if (chunk.length === 10_000) {
      loadMs += await applyBatches(engine, parsedBatches(chunk, 100));
      loadEvents += chunk.length;
      chunk = [];
    }
  }
  loadMs += await applyBatches(engine, parsedBatches(chunk, 100));
  loadEvents += chunk.length;

  let churnBatches: WatchEvent[][] | undefined = parsedBatches(churnEvents(sim, pods, churn, 42), batchSize);
  const warmup = Math.floor(churnBatches.length / 5);
  await applyBatches(engine, churnBatches.slice(0, warmup));
  const timed = churnBatches.slice(warmup);
  const timedEvents = timed.reduce((n, b) => n + b.length, 0);
  const churnMs = await applyBatches(engine, timed);
  churnBatches = undefined;
  timed.length = 0;

  const counts = {
    endpointSlices: store.objects("EndpointSlice").size,
    ciliumEndpointSlices: store.objects("CiliumEndpointSlice").size,
    identities: store.objects("CiliumIdentity").size,
  };
  // Retained by the core = heap with it minus heap once it is dropped (the simulator stays in both).
  const withEngine = settle();
  store = undefined;
  engine = undefined;
  const retainedHeapBytes = withEngine - settle();
  return {
    pods,
    loadEvents,
    loadMs: round(loadMs),
    loadEventsPerSecond: Math.round((loadEvents / loadMs) * 1000),
    churnEvents: timedEvents,
    churnMs: round(churnMs),
    churnEventsPerSecond: Math.round((timedEvents / churnMs) * 1000),
    microsecondsPerChurnEvent: round((churnMs * 1000) / timedEvents),
    retainedHeapBytes,
    retainedHeapBytesPerPod: Math.round(retainedHeapBytes / pods),
    ...counts,
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

const small = Number(args.small);
const large = Number(args.large);
const churn = Number(args.churn);
const batch = Number(args.batch);
console.log(`bench:core  small=${small} large=${large} pods, churn=${churn} events in batches of ${batch}`);
const smallResult = await measure(small, churn, batch);
console.log(`  ${small} pods: ${smallResult.microsecondsPerChurnEvent} µs/event under churn`);
const largeResult = await measure(large, churn, batch);
console.log(`  ${large} pods: ${largeResult.microsecondsPerChurnEvent} µs/event under churn`);

const result = {
  benchmark: "core",
  when: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryBytes: totalmem(),
    node: process.version,
  },
  scenario: {
    podsPerService: PODS_PER_SERVICE,
    servicesPerNamespace: SERVICES_PER_NAMESPACE,
    podsPerNode: PODS_PER_NODE,
    churnEvents: churn,
    batchSize: batch,
  },
  sizes: [smallResult, largeResult],
  timePerEventRatioLargeToSmall: round(
    largeResult.microsecondsPerChurnEvent / smallResult.microsecondsPerChurnEvent,
  ),
  retainedHeapBytesPerPodAtLarge: largeResult.retainedHeapBytesPerPod,
};
mkdirSync(args.out, { recursive: true });
const file = `${args.out}/core-${result.when.replace(/[:.]/g, "-")}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

console.log("");
console.log("size      load ev/s   churn ev/s   µs/event   heap/pod   ES     CES    identities");
for (const r of result.sizes) {
  console.log(
    `${String(r.pods).padEnd(9)} ${String(r.loadEventsPerSecond).padStart(9)}   ${String(r.churnEventsPerSecond).padStart(10)}   ${String(r.microsecondsPerChurnEvent).padStart(8)}   ${String(r.retainedHeapBytesPerPod).padStart(6)} B   ${String(r.endpointSlices).padEnd(6)} ${String(r.ciliumEndpointSlices).padEnd(6)} ${r.identities}`,
  );
}
console.log(
  `time per event, ${large} vs ${small} pods: ${result.timePerEventRatioLargeToSmall}x (target <= 1.5)`,
);
console.log(
  `retained heap per tracked pod at ${large}: ${result.retainedHeapBytesPerPodAtLarge} B (target <= 1024)`,
);
console.log(`written ${file}`);
