/**
 * npm run bench:watcher-memory — what one node agent's WatcherCache retains for a large cluster:
 * 1,000 Services × 100 endpoints as EndpointSlices (one full slice each), the same 100k pods as
 * CiliumEndpointSlice entries (50 per CES, grouped by namespace) and ~2,000 identities. Objects are
 * made in the shapes the API serves, and each goes through JSON text and back before the cache
 * sees it, as a delivered message would (strings fresh from JSON.parse, nothing shared by accident).
 *
 * Options: --services 1000 --per-service 100 --per-ces 50 --identities 2000 --out bench-results
 * Writes bench-results/watcher-memory-<timestamp>.json and prints a report. Goal: ≤ 64 MB per 100k
 * endpoints (≤ ~640 B per endpoint) for the IPCache and Service backends.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import type {
  CiliumEndpointSlice,
  CiliumIdentity,
  CoreCiliumEndpoint,
  Endpoint,
  EndpointSlice,
} from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import { itemPatch } from "#shared/fanout/slice-delta.ts";
import { changesOfBody } from "#shared/watcher/change-body.ts";
import { WatcherCache } from "#shared/watcher/watcher-cache.ts";

const { values: args } = parseArgs({
  options: {
    services: { type: "string", default: "1000" },
    "per-service": { type: "string", default: "100" },
    "per-ces": { type: "string", default: "50" },
    identities: { type: "string", default: "2000" },
    out: { type: "string", default: "bench-results" },
  },
});
const SERVICES = Number(args.services);
const PER_SERVICE = Number(args["per-service"]);
const PER_CES = Number(args["per-ces"]);
const IDENTITIES = Number(args.identities);
const SERVICES_PER_NAMESPACE = 20;
const PODS_PER_NODE = 100;
const ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"];

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc (npm run bench:watcher-memory does)");

function settle(): number {
  for (let i = 0; i < 4; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ip: string;
  readonly node: string;
  readonly nodeIP: string;
  readonly zone: string;
  readonly identity: number;
}

function podOf(service: number, index: number): Pod {
  const ordinal = service * PER_SERVICE + index;
  const node = Math.floor(ordinal / PODS_PER_NODE);
  const suffix = (ordinal * 2654435761).toString(36).slice(-5).padStart(5, "x");
  return {
    namespace: `team-${Math.floor(service / SERVICES_PER_NAMESPACE)}`,
    name: `svc-${service}-7c9d8f6b5-${suffix}`,
    uid: randomUUID(),
    ip: `10.${(ordinal >> 16) & 255}.${(ordinal >> 8) & 255}.${ordinal & 255}`,
    node: `ip-192-168-${node >> 8}-${node & 255}.ec2.internal`,
    nodeIP: `192.168.${node >> 8}.${node & 255}`,
    zone: ZONES[node % ZONES.length] as string,
    identity: 256 + ((service * 2 + (index % 2)) % IDENTITIES),
  };
}

function endpointSliceOf(service: number, pods: readonly Pod[], rv: number): EndpointSlice {
  const namespace = (pods[0] as Pod).namespace;
  const endpoints: Endpoint[] = pods.map((pod) => ({
    addresses: [pod.ip],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: pod.node,
    zone: pod.zone,
    targetRef: { kind: "Pod", namespace, name: pod.name, uid: pod.uid },
  }));
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `svc-${service}-${randomUUID().slice(0, 5)}`,
      namespace,
      labels: {
        "kubernetes.io/service-name": `svc-${service}`,
        "endpointslice.kubernetes.io/managed-by": "sliceline",
      },
      resourceVersion: String(rv),
      creationTimestamp: "2026-11-25T12:00:00Z",
      ownerReferences: [
        { apiVersion: "v1", kind: "Service", name: `svc-${service}`, uid: randomUUID(), controller: true },
      ],
    },
    addressType: "IPv4",
    endpoints,
    ports: [
      { name: "http", port: 8080, protocol: "TCP" },
      { name: "metrics", port: 9090, protocol: "TCP" },
    ],
  };
}

function ciliumSliceOf(index: number, pods: readonly Pod[], rv: number): CiliumEndpointSlice {
  const endpoints: CoreCiliumEndpoint[] = pods.map((pod) => ({
    name: pod.name,
    id: pod.identity,
    networking: { addressing: [{ ipv4: pod.ip }], node: pod.nodeIP },
    "named-ports": [
      { name: "http", port: 8080, protocol: "TCP" },
      { name: "metrics", port: 9090, protocol: "TCP" },
    ],
  }));
  return {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: {
      name: `ces-${index.toString(36).padStart(5, "0")}-${randomUUID().slice(0, 5)}`,
      resourceVersion: String(rv),
    },
    namespace: (pods[0] as Pod).namespace,
    endpoints,
  };
}

function identityOf(id: number, rv: number): CiliumIdentity {
  const service = Math.floor((id - 256) / 2);
  const labels: Record<string, string> = {
    "k8s:app": `svc-${service}`,
    "k8s:io.kubernetes.pod.namespace": `team-${Math.floor(service / SERVICES_PER_NAMESPACE)}`,
    "k8s:io.cilium.k8s.policy.serviceaccount": "default",
    "k8s:io.cilium.k8s.policy.cluster": "default",
    "k8s:tier": id % 2 === 0 ? "web" : "worker",
  };
  return {
    apiVersion: "cilium.io/v2",
    kind: "CiliumIdentity",
    metadata: { name: String(id), labels: { ...labels }, resourceVersion: String(rv) },
    "security-labels": labels,
  };
}

/** As a queue message would hand it over: through JSON text. */
function delivered(cache: WatcherCache, object: OutputObject): void {
  const wire = JSON.parse(JSON.stringify(object)) as OutputObject;
  cache.applyMessage({
    type: "ADDED",
    kind: wire.kind,
    object: wire,
    resourceVersion: wire.metadata.resourceVersion as string,
    sourceTimeMs: 0,
  });
}

const MB = 1024 * 1024;
const cache = new WatcherCache();
let rv = 1000;
const started = performance.now();
const baseline = settle();

let cesIndex = 0;
let cesPods: Pod[] = [];
const flushCes = () => {
  if (cesPods.length > 0) delivered(cache, ciliumSliceOf(cesIndex++, cesPods, ++rv));
  cesPods = [];
};
// Service by service, so only one Service's pods are alive outside the cache at a time.
let esBytes = 0;
const podsSeen = { count: 0 };
for (let s = 0; s < SERVICES; s++) {
  const pods = Array.from({ length: PER_SERVICE }, (_, i) => podOf(s, i));
  podsSeen.count += pods.length;
  delivered(cache, endpointSliceOf(s, pods, ++rv));
  if (s % SERVICES_PER_NAMESPACE === 0) flushCes();
  for (const pod of pods) {
    cesPods.push(pod);
    if (cesPods.length === PER_CES) flushCes();
  }
}
flushCes();
const afterSlices = settle();
esBytes = afterSlices - baseline;
for (let i = 0; i < IDENTITIES; i++) delivered(cache, identityOf(256 + i, ++rv));
const afterAll = settle();
const loadMs = performance.now() - started;

const counts = cache.counts();
const retained = afterAll - baseline;
const identitiesBytes = afterAll - afterSlices;
const slicesPerEndpoint = esBytes / counts.endpoints;
const perEndpoint = retained / counts.endpoints;
// A check that the structures answer (and keep the cache alive past the measurement).
const probe = cache.lookupIP("10.0.0.1");
const backends = cache.backends("team-0", "svc-0").length;

/**
 * CPU per delivered change, after the memory figure: JSON.parse of the body plus apply, for a
 * one-endpoint patch (the coalesced format) and for the whole 100-endpoint slice (single messages).
 */
function applyCost(changes: number): { patchUs: number; wholeUs: number } {
  const slices = cache.objects("EndpointSlice") as EndpointSlice[];
  const time = (bodies: readonly string[]) => {
    const t0 = performance.now();
    for (const body of bodies)
      for (const change of changesOfBody(body)) {
        const result = cache.apply(change);
        if (result.outcome !== "applied") throw new Error(`bench change not applied: ${result.outcome}`);
      }
    return ((performance.now() - t0) * 1000) / bodies.length;
  };
  const patchBodies: string[] = [];
  for (let i = 0; i < changes; i++) {
    const at = (i * 7919) % slices.length;
    const before = slices[at] as EndpointSlice;
    const flipped = i % before.endpoints.length;
    const endpoints = before.endpoints.map((e, k) =>
      k === flipped ? { ...e, conditions: { ...e.conditions, ready: !e.conditions.ready } } : e,
    );
    const after: EndpointSlice = {
      ...before,
      metadata: { ...before.metadata, resourceVersion: String(++rv) },
      endpoints,
    };
    const patch = itemPatch(before, after);
    if (patch === undefined) throw new Error("a one-endpoint change without a patch");
    const change: BundledChange = {
      type: "MODIFIED",
      kind: "EndpointSlice",
      namespace: before.metadata.namespace,
      name: before.metadata.name,
      resourceVersion: after.metadata.resourceVersion as string,
      previousResourceVersion: before.metadata.resourceVersion as string,
      sourceTimeMs: 0,
      patch,
    };
    patchBodies.push(JSON.stringify({ bundle: 1, scope: "EndpointSlice", changes: [change] }));
    slices[at] = after;
  }
  const patchUs = time(patchBodies);
  patchBodies.length = 0;
  const wholeBodies: string[] = [];
  for (let i = 0; i < changes; i++) {
    const at = (i * 7919) % slices.length;
    const before = slices[at] as EndpointSlice;
    const whole = { ...before, metadata: { ...before.metadata, resourceVersion: String(++rv) } };
    const message = { type: "MODIFIED", kind: "EndpointSlice", object: whole, sourceTimeMs: 0 };
    wholeBodies.push(JSON.stringify({ ...message, resourceVersion: whole.metadata.resourceVersion }));
    slices[at] = whole;
  }
  return { patchUs, wholeUs: time(wholeBodies) };
}
const cost = applyCost(20_000);

const result = {
  benchmark: "watcher-memory",
  at: new Date().toISOString(),
  machine: {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    totalMemoryMb: Math.round(totalmem() / MB),
  },
  parameters: {
    services: SERVICES,
    endpointsPerService: PER_SERVICE,
    entriesPerCes: PER_CES,
    identities: IDENTITIES,
  },
  counts,
  retainedHeapMb: +(retained / MB).toFixed(2),
  bytesPerEndpoint: Math.round(perEndpoint),
  slicesOnly: { retainedHeapMb: +(esBytes / MB).toFixed(2), bytesPerEndpoint: Math.round(slicesPerEndpoint) },
  identitiesRetainedMb: +(identitiesBytes / MB).toFixed(2),
  goal: { mbPer100kEndpoints: 64, bytesPerEndpoint: 640 },
  withinGoal: (retained / counts.endpoints) * 100_000 <= 64 * MB,
  loadMs: Math.round(loadMs),
  applyMicrosPerChange: { onePodPatch: +cost.patchUs.toFixed(1), wholeSlice100: +cost.wholeUs.toFixed(1) },
  sanity: { ipcacheHit: probe !== undefined, svc0Backends: backends },
};
mkdirSync(args.out, { recursive: true });
const file = `${args.out}/watcher-memory-${result.at.replace(/[:.]/g, "-")}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(
  [
    `watcher cache: ${counts.endpoints} endpoints in ${counts.endpointSlices} EndpointSlices, ${counts.ciliumEntries} CES entries in ${counts.ciliumEndpointSlices} CES, ${counts.identities} identities`,
    `  retained heap      ${result.retainedHeapMb} MB  (${result.bytesPerEndpoint} B per endpoint; goal ≤ 64 MB per 100k, ≤ 640 B)`,
    `  slices + IPCache   ${result.slicesOnly.retainedHeapMb} MB  (${result.slicesOnly.bytesPerEndpoint} B per endpoint)`,
    `  identities         ${result.identitiesRetainedMb} MB`,
    `  within goal        ${result.withinGoal}`,
    `  load               ${result.loadMs} ms (JSON round trip included)`,
    `  parse + apply      ${cost.patchUs.toFixed(1)} µs per one-pod patch, ${cost.wholeUs.toFixed(1)} µs per whole 100-endpoint slice`,
    `  wrote ${file}`,
  ].join("\n"),
);
