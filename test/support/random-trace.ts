/**
 * Random cluster histories for property tests: fast-check picks operations, the simulator turns
 * the valid ones into watch events, and delivery adds SQS's habits (duplicates, reordering,
 * arbitrary batch boundaries).
 */
import fc from "fast-check";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";

/** Small slices (1..4 endpoints) so a short history splits, merges and packs; every placement and batching mode. */
export const slicingSettingsArbitrary: fc.Arbitrary<SlicingSettings> = fc
  .record({
    maxEndpointsPerSlice: fc.integer({ min: 1, max: 4 }),
    maxEndpointsPerCES: fc.integer({ min: 1, max: 4 }),
    placement: fc.constantFrom("kubernetes" as const, "sliceline" as const),
    cesBatchingMode: fc.constantFrom("fcfs" as const, "identity" as const),
  })
  .map((overrides) => resolveSlicingSettings(overrides));

export const NAMESPACES = ["alpha", "beta"] as const;
export const NODES = ["n0", "n1", "n2"] as const;
export const APPS = ["web", "db", "cache"] as const;
export const SERVICES = ["svc-a", "svc-b", "svc-c"] as const;

export type Op =
  | {
      op: "createPod";
      ns: number;
      pod: number;
      app: number;
      tier: number;
      node: number;
      hostNetwork: boolean;
    }
  | { op: "startPod"; ns: number; pod: number; dualStack: boolean }
  | { op: "setReady"; ns: number; pod: number; ready: boolean }
  | { op: "relabelPod"; ns: number; pod: number; app: number; tier: number }
  | { op: "terminatePod"; ns: number; pod: number }
  | { op: "finishPod"; ns: number; pod: number; failed: boolean }
  | { op: "deletePod"; ns: number; pod: number }
  | { op: "annotatePod"; ns: number; pod: number }
  | {
      op: "upsertService";
      ns: number;
      svc: number;
      app: number | undefined;
      portStyle: number;
      family: number;
      publishNotReady: boolean;
    }
  | { op: "deleteService"; ns: number; svc: number }
  | { op: "relabelNamespace"; ns: number; env: number }
  | { op: "moveNode"; node: number; zone: number }
  | { op: "heartbeat"; node: number };

/** true about once in `n` draws. */
const rarely = (n: number): fc.Arbitrary<boolean> => fc.nat({ max: n - 1 }).map((x) => x === 0);
const ns = fc.nat({ max: NAMESPACES.length - 1 });
const pod = fc.nat({ max: 7 });
const app = fc.nat({ max: APPS.length - 1 });
const tier = fc.nat({ max: 1 });
const node = fc.nat({ max: NODES.length - 1 });

/** Histories long enough to build up and tear down state; fast-check's default sizes stay tiny. */
export const historyArbitrary = (maxLength: number): fc.Arbitrary<Op[]> =>
  fc.array(opArbitrary, { minLength: 1, maxLength, size: "max" });

export const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("createPod" as const),
      ns,
      pod,
      app,
      tier,
      node,
      hostNetwork: rarely(10),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant("startPod" as const), ns, pod, dualStack: fc.boolean() }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("setReady" as const), ns, pod, ready: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("relabelPod" as const), ns, pod, app, tier }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("terminatePod" as const), ns, pod }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("finishPod" as const), ns, pod, failed: fc.boolean() }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("deletePod" as const), ns, pod }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("annotatePod" as const), ns, pod }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("upsertService" as const),
      ns,
      svc: fc.nat({ max: SERVICES.length - 1 }),
      app: fc.option(app, { nil: undefined, freq: 6 }),
      portStyle: fc.nat({ max: 3 }),
      family: fc.nat({ max: 3 }),
      publishNotReady: rarely(5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("deleteService" as const),
      ns,
      svc: fc.nat({ max: SERVICES.length - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("relabelNamespace" as const), ns, env: fc.nat({ max: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("moveNode" as const), node, zone: fc.nat({ max: 2 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("heartbeat" as const), node }) },
);

const PORT_STYLES = [
  [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
  [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
  [
    { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
    { name: "metrics", port: 9090, targetPort: "metrics", protocol: "TCP" },
  ],
  [{ name: "dns", port: 53, targetPort: "dns", protocol: "UDP" }],
];
const FAMILIES: Array<{ clusterIP: string; ipFamilies?: string[] }> = [
  { clusterIP: "10.96.0.10" },
  { clusterIP: "None" },
  { clusterIP: "fd00:10::10" },
  { clusterIP: "10.96.0.11", ipFamilies: ["IPv4", "IPv6"] },
];

/**
 * A fresh simulator with nodes, namespaces, a Service and a few ready pods in each namespace, and
 * the events that made them, so random operations start from a cluster with something in it.
 */
export function seededCluster(): { sim: ClusterSimulator; events: SimEvent[] } {
  const sim = new ClusterSimulator(100);
  const events: SimEvent[] = [];
  NODES.forEach((name, i) => {
    events.push(sim.addNode(name, `zone-${i % 2}`));
  });
  for (const namespace of NAMESPACES) {
    events.push(sim.addNamespace(namespace, { env: "dev" }));
    events.push(
      sim.upsertService({
        namespace,
        name: SERVICES[0],
        selector: { app: APPS[0] },
        ports: PORT_STYLES[1] as never,
      }),
    );
    for (let i = 0; i < 4; i++) {
      const app = APPS[i % 2] as string;
      events.push(
        sim.createPod(
          namespace,
          `p${i}`,
          { app, tier: "fe", "pod-template-hash": "h0" },
          NODES[i % 3] as string,
          {
            ports: podPorts(i),
          },
        ),
      );
      events.push(
        sim.startPod(namespace, `p${i}`, { dualStack: i === 3 }),
        sim.setPodReady(namespace, `p${i}`, true),
      );
    }
  }
  return { sim, events };
}

/** Pods resolve the named ports differently (or not at all), to exercise per-pod port sets. */
function podPorts(pod: number): Array<{ name?: string; containerPort: number; protocol?: string }> {
  if (pod % 3 === 0) return [{ name: "http", containerPort: 8080, protocol: "TCP" }];
  if (pod % 3 === 1) {
    return [
      { name: "http", containerPort: 8081, protocol: "TCP" },
      { name: "metrics", containerPort: 9100, protocol: "TCP" },
      { name: "dns", containerPort: 5353, protocol: "UDP" },
    ];
  }
  return [];
}

/** Applies the ops that make sense in the current state; the others are skipped, as a real cluster would refuse them. */
export function eventsFor(sim: ClusterSimulator, ops: readonly Op[]): SimEvent[] {
  const events: SimEvent[] = [];
  for (const op of ops) {
    const event = eventFor(sim, op);
    if (event !== undefined) events.push(event);
  }
  return events;
}

function eventFor(sim: ClusterSimulator, op: Op): SimEvent | undefined {
  if (op.op === "moveNode") return sim.moveNodeToZone(NODES[op.node] as string, `zone-${op.zone}`);
  if (op.op === "heartbeat") return sim.heartbeatNode(NODES[op.node] as string);
  const namespace = NAMESPACES[op.ns] as string;
  if (op.op === "relabelNamespace")
    return sim.relabelNamespace(namespace, { env: ["dev", "prod", "test"][op.env] as string });
  if (op.op === "upsertService") {
    const family = FAMILIES[op.family] as { clusterIP: string; ipFamilies?: string[] };
    return sim.upsertService({
      namespace,
      name: SERVICES[op.svc] as string,
      selector: op.app === undefined ? undefined : { app: APPS[op.app] as string },
      ports: PORT_STYLES[op.portStyle] as never,
      clusterIP: family.clusterIP,
      ipFamilies: family.ipFamilies,
      publishNotReadyAddresses: op.publishNotReady,
    });
  }
  if (op.op === "deleteService") {
    const name = SERVICES[op.svc] as string;
    return sim.services.has(`${namespace}/${name}`) ? sim.deleteService(namespace, name) : undefined;
  }
  const name = `p${op.pod}`;
  const existing = sim.pods.get(`${namespace}/${name}`);
  if (op.op === "createPod") {
    if (existing !== undefined) return undefined;
    const ports = podPorts(op.pod);
    return sim.createPod(
      namespace,
      name,
      {
        app: APPS[op.app] as string,
        tier: ["fe", "be"][op.tier] as string,
        "pod-template-hash": `h${op.pod % 2}`,
      },
      NODES[op.node] as string,
      { hostNetwork: op.hostNetwork, ports },
    );
  }
  if (existing === undefined) return undefined;
  switch (op.op) {
    case "startPod":
      return existing.ip === undefined
        ? sim.startPod(namespace, name, { dualStack: op.dualStack })
        : undefined;
    case "setReady":
      return existing.ip !== undefined && existing.phase === "Running"
        ? sim.setPodReady(namespace, name, op.ready)
        : undefined;
    case "relabelPod":
      return sim.relabelPod(namespace, name, {
        ...existing.labels,
        app: APPS[op.app] as string,
        tier: ["fe", "be"][op.tier] as string,
      });
    case "terminatePod":
      return existing.deleting ? undefined : sim.terminatePod(namespace, name);
    case "finishPod":
      return existing.phase === "Running"
        ? sim.finishPod(namespace, name, op.failed ? "Failed" : "Succeeded")
        : undefined;
    case "deletePod":
      return sim.deletePod(namespace, name);
    case "annotatePod":
      return sim.annotatePod(namespace, name);
  }
}

export interface Delivery {
  /** Indexes of events to deliver twice. */
  readonly duplicates: number[];
  /** Per-event displacement, so events arrive out of order within a window. */
  readonly jitter: number[];
  readonly batchSizes: number[];
}

export const deliveryArbitrary = (eventCount: number): fc.Arbitrary<Delivery> =>
  fc.record({
    duplicates: fc.array(fc.nat({ max: Math.max(0, eventCount - 1) }), {
      maxLength: Math.ceil(eventCount / 4),
    }),
    jitter: fc.array(fc.nat({ max: 6 }), { minLength: eventCount, maxLength: eventCount }),
    batchSizes: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }),
  });

/** Events as SQS might hand them over: some twice, locally shuffled, cut into batches. */
export function deliver<T>(events: readonly T[], delivery: Delivery): T[][] {
  const tagged = events.map((event, i) => ({ event, at: i + (delivery.jitter[i] ?? 0) }));
  for (const i of delivery.duplicates) {
    const event = events[i];
    if (event !== undefined) tagged.push({ event, at: i + 3 });
  }
  tagged.sort((a, b) => a.at - b.at);
  const batches: T[][] = [];
  let position = 0;
  let b = 0;
  while (position < tagged.length) {
    const size = delivery.batchSizes[b++ % delivery.batchSizes.length] ?? 1;
    batches.push(tagged.slice(position, position + size).map((t) => t.event));
    position += size;
  }
  return batches;
}

/** A seeded cluster, up to `maxOps` random changes after it, delivered as SQS might: the batches. */
export const deliveredBatchesArbitrary = (maxOps: number): fc.Arbitrary<SimEvent[][]> =>
  historyArbitrary(maxOps).chain((ops) => {
    const { sim, events: setup } = seededCluster();
    const events = [...setup, ...eventsFor(sim, ops)];
    return deliveryArbitrary(events.length).map((delivery) => deliver(events, delivery));
  });
