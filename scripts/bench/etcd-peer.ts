/**
 * The real peer: Cilium's kvstore mode on a real etcd 3.4, measured like sliceline's strategies.
 *
 * The trace's initial load is written first (not measured); then every watcher lists the IP prefix
 * and watches it from the listed revision, as a Cilium agent's ListAndWatch does; then the measured
 * events are replayed in real time (each at its atMs, as fast as etcd accepts when behind). Each
 * watcher is its own etcd watch applying events to its own IPCache map; the watchers share k gRPC
 * client connections (as many agents would each hold one). Latency is the watcher's apply time minus
 * the time the write was sent, joined in-process by mod revision so values stay Cilium's JSON.
 */
import { mkdtempSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { Etcd3, type IKeyValue, type Lease, type Watcher } from "etcd3";
import { CiliumKvstoreModel, IP_IDENTITY_PREFIX, type KvOp } from "#scripts/bench/etcd/cilium-kvstore.ts";
import { type EtcdServer, startEtcd } from "#scripts/bench/etcd/etcd-server.ts";
import { KeyOrderedWriter } from "#scripts/bench/etcd/key-ordered-writer.ts";
import { GrowableSamples, summarizeLatencies } from "#scripts/bench/etcd/latency-samples.ts";
import { sampleMachineCpu } from "#scripts/bench/etcd/machine-cpu.ts";
import type { LatencySummary, StrategyResult, Trace } from "#scripts/bench/types.ts";

/** Cilium's kvstore.LeaseTTL: agents' keys live under a 15-minute session lease. */
const LEASE_TTL_SECONDS = 15 * 60;
const WATCHERS_PER_CHANNEL = 20;
const LIST_CONCURRENCY = 16;
const DEFAULT_MAX_IN_FLIGHT_WRITES = 64;
const DEFAULT_DRAIN_TIMEOUT_MS = 60_000;

export interface EtcdPeerProgress {
  readonly stage: "load" | "list" | "replay" | "drain";
  readonly elapsedMs: number;
  readonly eventsSent: number;
  readonly eventsTotal: number;
  readonly deliveries: number;
}

export interface EtcdPeerOptions {
  readonly watchers: number;
  /** gRPC client connections the watchers are spread over; default one per 20 watchers. */
  readonly channels?: number;
  readonly onProgress?: (progress: EtcdPeerProgress) => void;
  /** Parent of the run's etcd data directory (removed afterwards); default the OS temp dir. */
  readonly workDir?: string;
  readonly etcdBinary?: string;
  readonly maxInFlightWrites?: number;
  /** How long watchers may take to catch up after the last write before they count as unconverged. */
  readonly drainTimeoutMs?: number;
}

/** Figures only a live etcd run has, beside the common ones. */
export interface EtcdPeerFigures {
  readonly etcdVersion: string;
  readonly channels: number;
  readonly ipKeyWrites: number;
  readonly identityKeyWrites: number;
  readonly replaySeconds: number;
  /** Deliveries over the time from the first measured write to the last delivery. */
  readonly sustainedDeliveriesPerSecond: number;
  readonly etcdCpuSeconds: number;
  readonly nodeCpuSeconds: number;
  /** CPU seconds every other process on the machine used meanwhile (it shares the cores). */
  readonly otherProcessesCpuSeconds: number;
  readonly iowaitSeconds: number;
  readonly cpus: number;
  /** Initial list + watch of all watchers (ms). */
  readonly listAndWatchMs: number;
  /** etcd's own gauges (etcd_debugging_mvcc_*), the maximum seen while sampling once a second. */
  readonly maxSlowWatchers: number;
  readonly maxPendingEvents: number;
  /** Worst delay of a write behind its scheduled time (the writer falling behind etcd). */
  readonly writerLagMaxMs: number;
  /** Apply time minus the event's scheduled time: includes the writer's own lag when it falls behind. */
  readonly latencyFromSchedule: LatencySummary;
}

export interface EtcdPeerResult extends StrategyResult {
  readonly etcd: EtcdPeerFigures;
}

interface WatcherState {
  readonly cache: Map<string, string>;
  lastRevision: number;
}

interface Tally {
  deliveries: number;
  bytes: number;
  readonly samples: GrowableSamples;
}

export async function runEtcdPeer(trace: Trace, options: EtcdPeerOptions): Promise<EtcdPeerResult> {
  const dataDir = mkdtempSync(path.join(options.workDir ?? tmpdir(), "sliceline-etcd-"));
  const server = await startEtcd({ dataDir, ...(options.etcdBinary ? { binary: options.etcdBinary } : {}) });
  const channelCount = Math.max(1, options.channels ?? Math.ceil(options.watchers / WATCHERS_PER_CHANNEL));
  const writerClient = newClient(server);
  const watchClients = Array.from({ length: channelCount }, () => newClient(server));
  const lease = writerClient.lease(LEASE_TTL_SECONDS);
  const watches: Watcher[] = [];
  try {
    return await measure(trace, options, { server, writerClient, watchClients, lease, watches });
  } finally {
    await Promise.allSettled(watches.map((watch) => watch.cancel()));
    await lease.revoke().catch(() => {});
    for (const client of [writerClient, ...watchClients]) client.close();
    await server.stop();
  }
}

interface Peer {
  readonly server: EtcdServer;
  readonly writerClient: Etcd3;
  readonly watchClients: readonly Etcd3[];
  readonly lease: Lease;
  readonly watches: Watcher[];
}

async function measure(trace: Trace, options: EtcdPeerOptions, peer: Peer): Promise<EtcdPeerResult> {
  const started = performance.now();
  const progress = (stage: EtcdPeerProgress["stage"], eventsSent: number, deliveries: number): void =>
    options.onProgress?.({
      stage,
      elapsedMs: performance.now() - started,
      eventsSent,
      eventsTotal: trace.events.length - trace.measuredFrom,
      deliveries,
    });
  const model = new CiliumKvstoreModel();
  const maxInFlight = options.maxInFlightWrites ?? DEFAULT_MAX_IN_FLIGHT_WRITES;

  progress("load", 0, 0);
  const loader = new KeyOrderedWriter(maxInFlight, (op) => send(peer, op));
  for (const traceEvent of trace.events.slice(0, trace.measuredFrom)) {
    for (const op of model.apply(traceEvent.event, traceEvent.atMs)) loader.submit(op, 0);
  }
  await loader.finished();

  progress("list", 0, 0);
  const tally: Tally = { deliveries: 0, bytes: 0, samples: new GrowableSamples() };
  const listStarted = performance.now();
  const watchers = await listAndWatchAll(peer, options.watchers, tally);
  const listAndWatchMs = performance.now() - listStarted;

  const gauges = sampleGauges(peer.server.clientUrl);
  const etcdCpuBefore = peer.server.cpuSeconds();
  const nodeCpuBefore = process.cpuUsage();
  const machineBefore = sampleMachineCpu();
  const sendTimes = new Map<number, number>();
  const dueTimes = new Map<number, number>();
  const writes = { ip: 0, identity: 0, maxIpRevision: 0, lagMaxMs: 0 };
  const writer = new KeyOrderedWriter(maxInFlight, async (op, dueAt) => {
    const sentAt = performance.now();
    writes.lagMaxMs = Math.max(writes.lagMaxMs, sentAt - dueAt);
    const revision = await send(peer, op);
    if (!op.key.startsWith(IP_IDENTITY_PREFIX)) {
      writes.identity++;
      return revision;
    }
    writes.ip++;
    sendTimes.set(revision, sentAt);
    dueTimes.set(revision, dueAt);
    writes.maxIpRevision = Math.max(writes.maxIpRevision, revision);
    return revision;
  });

  const replayStart = performance.now();
  let sent = 0;
  const ticker = setInterval(() => progress("replay", sent, tally.deliveries), 1000);
  const firstAtMs = trace.events[trace.measuredFrom]?.atMs ?? 0;
  try {
    for (const traceEvent of trace.events.slice(trace.measuredFrom)) {
      const dueAt = replayStart + traceEvent.atMs - firstAtMs;
      const wait = dueAt - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      for (const op of model.apply(traceEvent.event, traceEvent.atMs)) writer.submit(op, dueAt);
      sent++;
    }
    await writer.finished();
  } finally {
    clearInterval(ticker);
  }
  await drain(watchers, writes.maxIpRevision, options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS, () =>
    progress("drain", sent, tally.deliveries),
  );
  const replayEnd = performance.now();
  const etcdCpuSeconds = peer.server.cpuSeconds() - etcdCpuBefore;
  const nodeCpu = process.cpuUsage(nodeCpuBefore);
  const machineAfter = sampleMachineCpu();
  const nodeCpuSeconds = (nodeCpu.user + nodeCpu.system) / 1e6;
  const gaugeMax = await gauges.stop();

  const truth = new Map(
    [...model.ipKeys].map(([key, value]) => [key.slice(IP_IDENTITY_PREFIX.length), value]),
  );
  const converged = watchers.filter((watcher) => sameMap(watcher.cache, truth)).length;
  const { latencies, peakPerSecond, lastAppliedAt } = joinSamples(tally.samples, sendTimes, replayStart);
  const { cdf, ...latency } = summarizeLatencies(latencies);
  const { cdf: _, ...fromSchedule } = summarizeLatencies(
    joinSamples(tally.samples, dueTimes, replayStart).latencies,
  );
  const activeSeconds = Math.max(1e-3, (lastAppliedAt - replayStart) / 1000);
  const podChanges = trace.podChanges;
  const perPodChange = (n: number): number => (podChanges === 0 ? 0 : n / podChanges);
  const figures: EtcdPeerFigures = {
    etcdVersion: peer.server.version,
    channels: peer.watchClients.length,
    ipKeyWrites: writes.ip,
    identityKeyWrites: writes.identity,
    replaySeconds: (replayEnd - replayStart) / 1000,
    sustainedDeliveriesPerSecond: tally.deliveries / activeSeconds,
    etcdCpuSeconds,
    nodeCpuSeconds,
    otherProcessesCpuSeconds: Math.max(
      0,
      machineAfter.busySeconds - machineBefore.busySeconds - etcdCpuSeconds - nodeCpuSeconds,
    ),
    iowaitSeconds: machineAfter.iowaitSeconds - machineBefore.iowaitSeconds,
    cpus: availableParallelism(),
    listAndWatchMs,
    maxSlowWatchers: gaugeMax.slowWatchers,
    maxPendingEvents: gaugeMax.pendingEvents,
    writerLagMaxMs: writes.lagMaxMs,
    latencyFromSchedule: fromSchedule,
  };
  return {
    strategy: "etcd-kvstore",
    description:
      "Cilium kvstore mode: per-endpoint IP->identity keys in a real etcd, every agent watching the prefix",
    measurement: "live",
    watchers: options.watchers,
    eventsIn: trace.events.length - trace.measuredFrom,
    podChanges,
    objectWrites: writes.ip + writes.identity,
    deliveries: tally.deliveries,
    bytesDelivered: tally.bytes,
    deliveriesPerPodChange: perPodChange(tally.deliveries),
    bytesPerPodChange: perPodChange(tally.bytes),
    peakDeliveriesPerSecond: peakPerSecond,
    latency,
    latencyCdf: cdf,
    convergedWatchers: converged,
    totalWatchers: watchers.length,
    awsRequestsPerPodChange: {},
    notes: notesOf(figures, options.watchers, converged),
    etcd: figures,
  };
}

function notesOf(figures: EtcdPeerFigures, watchers: number, converged: number): string[] {
  const behind =
    figures.maxSlowWatchers > 0
      ? `watchers fell behind: etcd reported up to ${figures.maxSlowWatchers} slow watchers`
      : "no watcher fell behind (etcd's slow-watcher gauge stayed 0)";
  return [
    `etcd ${figures.etcdVersion} (Debian etcd-server, one member, default flags), ${watchers} watches over ${figures.channels} gRPC client connections (etcd3 npm client)`,
    `${figures.ipKeyWrites} IP-key writes and ${figures.identityKeyWrites} identity-key writes (all agents' writes pooled on one client connection); ${behind}; ${converged}/${watchers} converged`,
    `CPU over the replay (${figures.replaySeconds.toFixed(1)} s on ${figures.cpus} cores): etcd ${figures.etcdCpuSeconds.toFixed(1)} s, watcher process ${figures.nodeCpuSeconds.toFixed(1)} s, other processes on the machine ${figures.otherProcessesCpuSeconds.toFixed(1)} s`,
  ];
}

function newClient(server: EtcdServer): Etcd3 {
  return new Etcd3({
    hosts: server.clientUrl,
    // A private subchannel pool: otherwise grpc-js shares one HTTP/2 connection among all clients.
    grpcOptions: { "grpc.use_local_subchannel_pool": 1, "grpc.max_receive_message_length": 256 << 20 },
  });
}

async function send(peer: Peer, op: KvOp): Promise<number> {
  if (op.kind === "delete") {
    const response = await peer.writerClient.delete().key(op.key).exec();
    return Number(response.header.revision);
  }
  // Identity master keys are written without a lease (they outlive the agent); the rest with one.
  const put = op.key.startsWith("cilium/state/identities/v1/id/")
    ? peer.writerClient.put(op.key)
    : peer.lease.put(op.key);
  const response = await put.value(op.value).exec();
  return Number(response.header.revision);
}

async function listAndWatchAll(peer: Peer, count: number, tally: Tally): Promise<WatcherState[]> {
  const watchers: WatcherState[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const client = peer.watchClients[index % peer.watchClients.length] as Etcd3;
      watchers[index] = await listAndWatch(client, peer.watches, tally);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, count) }, worker));
  return watchers;
}

/** One agent's ListAndWatch of the IP prefix, applying each event to its own cache. */
async function listAndWatch(client: Etcd3, watches: Watcher[], tally: Tally): Promise<WatcherState> {
  const listed = await client.getAll().prefix(IP_IDENTITY_PREFIX).exec();
  const state: WatcherState = { cache: new Map(), lastRevision: Number(listed.header.revision) };
  for (const kv of listed.kvs) applyPut(state, kv);
  const watch = await client
    .watch()
    .prefix(IP_IDENTITY_PREFIX)
    .startRevision(String(state.lastRevision + 1))
    .create();
  watches.push(watch);
  const record = (kv: IKeyValue): void => {
    const revision = Number(kv.mod_revision);
    state.lastRevision = Math.max(state.lastRevision, revision);
    tally.deliveries++;
    tally.bytes += kv.key.length + kv.value.length;
    tally.samples.push(revision, performance.now());
  };
  watch.on("put", (kv) => {
    applyPut(state, kv);
    record(kv);
  });
  watch.on("delete", (kv) => {
    state.cache.delete(kv.key.toString().slice(IP_IDENTITY_PREFIX.length));
    record(kv);
  });
  return state;
}

/** As the agent does: decode the IPIdentityPair (a value it cannot decode is not applied). */
function applyPut(state: WatcherState, kv: IKeyValue): void {
  const value = kv.value.toString();
  const pair = JSON.parse(value) as { ID?: unknown };
  if (typeof pair.ID !== "number") return;
  state.cache.set(kv.key.toString().slice(IP_IDENTITY_PREFIX.length), value);
}

async function drain(
  watchers: readonly WatcherState[],
  revision: number,
  timeoutMs: number,
  onTick: () => void,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let lastTick = 0;
  while (watchers.some((watcher) => watcher.lastRevision < revision) && performance.now() < deadline) {
    if (performance.now() - lastTick > 1000) {
      onTick();
      lastTick = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function joinSamples(
  samples: GrowableSamples,
  sendTimes: ReadonlyMap<number, number>,
  replayStart: number,
): { latencies: Float64Array; peakPerSecond: number; lastAppliedAt: number } {
  const latencies = new Float64Array(samples.length);
  const perSecond = new Map<number, number>();
  let lastAppliedAt = replayStart;
  let n = 0;
  samples.forEach((revision, appliedAt) => {
    const sentAt = sendTimes.get(revision);
    if (sentAt !== undefined) latencies[n++] = appliedAt - sentAt;
    const second = Math.floor((appliedAt - replayStart) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    lastAppliedAt = Math.max(lastAppliedAt, appliedAt);
  });
  return {
    latencies: latencies.subarray(0, n),
    peakPerSecond: Math.max(0, ...perSecond.values()),
    lastAppliedAt,
  };
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

interface GaugeSampler {
  stop(): Promise<{ slowWatchers: number; pendingEvents: number }>;
}

/** etcd's watch backlog gauges from its /metrics, sampled once a second. */
function sampleGauges(clientUrl: string): GaugeSampler {
  const max = { slowWatchers: 0, pendingEvents: 0 };
  const sample = async (): Promise<void> => {
    try {
      const text = await (await fetch(`${clientUrl}/metrics`)).text();
      max.slowWatchers = Math.max(max.slowWatchers, gauge(text, "etcd_debugging_mvcc_slow_watcher_total"));
      max.pendingEvents = Math.max(
        max.pendingEvents,
        gauge(text, "etcd_debugging_mvcc_pending_events_total"),
      );
    } catch {
      // A missed sample under load is not a failure of the run.
    }
  };
  // Unref'd: a run that fails before stop() must not be kept alive by its sampler.
  const timer = setInterval(() => void sample(), 1000).unref();
  return {
    async stop() {
      clearInterval(timer);
      await sample();
      return max;
    },
  };
}

function gauge(metrics: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(metrics);
  return match ? Number(match[1]) : 0;
}
