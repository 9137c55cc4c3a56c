/**
 * A synthetic but realistic pod-change trace: a Deployment rolled over and over, as a watch would
 * report it, cut into the batches an SQS-fed Lambda would receive. Used to measure slice placement
 * under churn (tests, benchmarks); deterministic for a given seed.
 *
 * Each replacement is six watch events: new pod ADDED without IP, gets its IP (not ready), becomes
 * ready; an old pod gets its deletionTimestamp (still ready), turns not ready, is DELETED. The
 * rollout follows the Deployment controller's rule: at most replicas + maxSurge pods that are not
 * terminating, at least replicas - maxUnavailable of them ready.
 */

import { seededRandom } from "#scripts/sim/seeded-random.ts";
import type { PodRecord } from "#shared/core/model.ts";

export interface RollingUpdateOptions {
  readonly namespace: string;
  readonly appLabel: string;
  readonly replicas: number;
  readonly rounds: number;
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  /** Watch events per batch (an SQS batch). */
  readonly batchSize: number;
  readonly nodes: number;
  readonly seed: number;
}

export type PodChange = readonly [podKey: string, pod: PodRecord | undefined];

export interface RollingUpdateTrace {
  /** Batches that create the initial, all-ready Deployment. */
  readonly initial: PodChange[][];
  /** Per rollout, its batches in order. */
  readonly rounds: PodChange[][][];
  readonly zoneOf: (nodeName: string) => string | undefined;
  /** Pods alive at the end, for checking the final state against a from-scratch computation. */
  readonly finalPods: PodRecord[];
}

type Stage = "pending" | "starting" | "ready" | "draining" | "stopped";

interface SimPod {
  record: PodRecord;
  stage: Stage;
  readonly revision: number;
}

export function rollingUpdateTrace(options: RollingUpdateOptions): RollingUpdateTrace {
  const random = seededRandom(options.seed);
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const pods = new Map<string, SimPod>();
  const events: PodChange[] = [];
  const timers = new Map<number, SimPod[]>();
  let podCounter = 0;
  let now = 0;

  const emit = (sim: SimPod, record: PodRecord | undefined) => {
    const key = `${options.namespace}/${sim.record.name}`;
    events.push([key, record]);
    if (record === undefined) pods.delete(key);
    else sim.record = record;
  };
  const schedule = (sim: SimPod, delay: number) => {
    const at = now + delay;
    const list = timers.get(at) ?? [];
    list.push(sim);
    timers.set(at, list);
  };
  const createPod = (revision: number, ready: boolean) => {
    podCounter++;
    const name = `${options.appLabel}-${revision.toString(36).padStart(3, "0")}-${podCounter.toString(36)}`;
    const record: PodRecord = {
      namespace: options.namespace,
      name,
      uid: `uid-${podCounter}`,
      labels: { app: options.appLabel, "pod-template-hash": `rev${revision}` },
      nodeName: `node-${between(0, options.nodes - 1)}`,
      hostNetwork: false,
      podIPs: ready ? [ipFor(podCounter)] : [],
      hostIP: undefined,
      phase: ready ? "Running" : "Pending",
      ready,
      terminating: false,
      namedPorts: [{ name: "http", port: 8080, protocol: "TCP" }],
    };
    const sim: SimPod = { record, stage: ready ? "ready" : "pending", revision };
    pods.set(`${options.namespace}/${name}`, sim);
    emit(sim, record);
    if (!ready) schedule(sim, between(1, 4));
  };
  const advance = (sim: SimPod, onReady: () => void) => {
    const r = sim.record;
    switch (sim.stage) {
      case "pending":
        sim.stage = "starting";
        emit(sim, { ...r, podIPs: [ipFor(Number(r.uid.slice(4)))], phase: "Running" });
        schedule(sim, between(3, 15));
        return;
      case "starting":
        sim.stage = "ready";
        emit(sim, { ...r, ready: true });
        onReady();
        return;
      case "draining":
        sim.stage = "stopped";
        emit(sim, { ...r, ready: false });
        schedule(sim, between(1, 30));
        return;
      case "stopped":
        emit(sim, undefined);
        return;
      case "ready":
        return;
    }
  };
  const terminate = (sim: SimPod) => {
    sim.stage = "draining";
    emit(sim, { ...sim.record, terminating: true });
    schedule(sim, between(1, 5));
  };

  for (let i = 0; i < options.replicas; i++) createPod(0, true);
  const initialEvents = events.splice(0);
  const rounds: PodChange[][][] = [];

  // Counters instead of scans: the loop runs once per simulated second over 12,500 pods.
  let old = [...pods.values()];
  for (let revision = 1; revision <= options.rounds; revision++) {
    let current = 0;
    let currentReady = 0;
    const onReady = () => currentReady++;
    for (;;) {
      if (old.length === 0 && currentReady === options.replicas && timers.size === 0) break;
      const scaleUp = Math.min(
        options.replicas - current,
        options.replicas + options.maxSurge - old.length - current,
      );
      for (let i = 0; i < scaleUp; i++) createPod(revision, false);
      current += Math.max(0, scaleUp);
      // Old pods are all ready; the ReplicaSet controller would pick not-ready ones first.
      const available = old.length + currentReady;
      const scaleDown = Math.min(old.length, available - (options.replicas - options.maxUnavailable));
      for (let i = 0; i < scaleDown; i++) {
        const at = Math.floor(random() * old.length);
        const victim = old[at] as SimPod;
        old[at] = old[old.length - 1] as SimPod;
        old.pop();
        terminate(victim);
      }
      now++;
      for (const sim of timers.get(now) ?? []) advance(sim, onReady);
      timers.delete(now);
    }
    old = [...pods.values()];
    rounds.push(cut(events.splice(0), options.batchSize));
  }

  const zones = ["zone-a", "zone-b", "zone-c"];
  return {
    initial: cut(initialEvents, options.batchSize),
    rounds,
    zoneOf: (nodeName) => zones[Number(nodeName.slice(5)) % zones.length],
    finalPods: [...pods.values()].map((p) => p.record),
  };
}

/** A batch is handled as one reconcile: a pod that changed twice in it counts once, as it is now. */
function cut(events: readonly PodChange[], size: number): PodChange[][] {
  const batches: PodChange[][] = [];
  for (let i = 0; i < events.length; i += size) {
    const latest = new Map<string, PodRecord | undefined>();
    for (const [key, pod] of events.slice(i, i + size)) {
      latest.delete(key);
      latest.set(key, pod);
    }
    batches.push([...latest]);
  }
  return batches;
}

function ipFor(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}
