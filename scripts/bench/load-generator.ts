/**
 * Turns a scenario into a trace: the watch events a Kubernetes API server would emit, each stamped
 * with when it is sent. Every event comes from the cluster simulator, so the benchmark sees the
 * same object shapes as the tests and the demo; the whole trace is a function of the scenario's seed.
 *
 * The initial load (namespaces, zoned nodes, Services, pods made Ready) is stamped at 0 and not
 * measured. The phases follow, each emitting events at its rate: one event per 1/rate seconds. A
 * pod change is an operation of several events whose later steps must wait (a new pod is Ready a
 * couple of seconds after it starts); a slot whose follow-up is due takes it, otherwise it starts a
 * new operation, so the rate is exact and the follow-ups keep their causal order and delays.
 */
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { seededRandom } from "#scripts/sim/seeded-random.ts";
import type { Scenario, ScenarioPhase, Trace, TraceEvent, WatcherRestart } from "./types.ts";

/** Delays inside one pod operation (ms), like a kubelet on a busy node. */
const START_DELAY_MS = 1_000;
const READY_DELAY_MS = 2_000;
const DELETE_DELAY_MS = 3_000;
const READY_FLIP_BACK_MS = 5_000;
/** Share of churn operations that are readiness flips; the rest replace a pod. */
const READINESS_FLIP_SHARE = 0.5;
/** Share of re-list attempts refused while a crowd of watchers re-lists at once (assumption). */
const RELIST_REFUSED_SHARE = 0.5;

export function generateTrace(scenario: Scenario): Trace {
  const generator = new TraceGenerator(scenario);
  generator.initialLoad();
  const measuredFrom = generator.events.length;
  let startMs = 0;
  for (const [index, phase] of scenario.phases.entries()) startMs = generator.runPhase(phase, index, startMs);
  const events = generator.events;
  let podChanges = 0;
  for (let i = measuredFrom; i < events.length; i++) if (events[i]?.podChange) podChanges++;
  return {
    scenario,
    events,
    measuredFrom,
    podChanges,
    ...(generator.restarts.length > 0 ? { restarts: generator.restarts } : {}),
  };
}

interface ServiceSlots {
  readonly namespace: string;
  readonly name: string;
  /** Current pod-template-hash: a rolling update changes it. */
  templateHash: string;
  /** The current pod of each replica slot. */
  readonly pods: string[];
  /** Slots with an operation in flight, which a new operation must not touch. */
  readonly busy: Set<number>;
  generation: number;
}

interface FollowUp {
  readonly dueMs: number;
  readonly run: () => SimEvent;
  readonly podChange: boolean;
  readonly done?: () => void;
}

/** One timed stream of events inside a phase: the phase interleaves its sources by time. */
interface EventSource {
  /** When the next event is due; undefined when the source is exhausted. */
  nextAt(): number | undefined;
  emit(atMs: number): void;
}

class TraceGenerator {
  readonly events: TraceEvent[] = [];
  readonly restarts: WatcherRestart[] = [];
  readonly #scenario: Scenario;
  readonly #sim = new ClusterSimulator();
  readonly #random: () => number;
  readonly #services: ServiceSlots[] = [];
  readonly #nodeNames: string[] = [];
  #replacements = 0;
  #phase = -1;

  constructor(scenario: Scenario) {
    this.#scenario = scenario;
    this.#random = seededRandom(scenario.seed);
  }

  #push(atMs: number, event: SimEvent, podChange: boolean): void {
    this.events.push({ atMs, event, podChange, phase: this.#phase });
  }

  initialLoad(): void {
    const s = this.#scenario;
    for (let n = 0; n < s.nodes; n++) {
      const name = `node-${n}`;
      this.#nodeNames.push(name);
      this.#push(0, this.#sim.addNode(name, s.zones[n % s.zones.length]), false);
    }
    for (let n = 0; n < s.namespaces; n++) {
      this.#push(0, this.#sim.addNamespace(`ns-${n}`, { team: `team-${n % 7}`, env: "prod" }), false);
    }
    const ordinary = s.bigServicePods > 0 ? s.services - 1 : s.services;
    const ordinaryPods = s.pods - s.bigServicePods;
    for (let i = 0; i < s.services; i++) {
      const big = s.bigServicePods > 0 && i === s.services - 1;
      const namespace = big ? "ns-0" : `ns-${Math.floor((i * s.namespaces) / Math.max(ordinary, 1))}`;
      const name = big ? "big" : `svc-${i}`;
      // Ordinary pods spread as evenly as integers allow.
      const replicas = big
        ? s.bigServicePods
        : Math.floor(((i + 1) * ordinaryPods) / ordinary) - Math.floor((i * ordinaryPods) / ordinary);
      const service: ServiceSlots = {
        namespace,
        name,
        templateHash: templateHash(name, 0),
        pods: [],
        busy: new Set(),
        generation: 0,
      };
      this.#services.push(service);
      this.#push(
        0,
        this.#sim.upsertService({
          namespace,
          name,
          selector: { app: name },
          ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
        }),
        false,
      );
      for (let r = 0; r < replicas; r++) {
        const pod = `${name}-${r}`;
        service.pods.push(pod);
        this.#push(
          0,
          this.#sim.createPod(namespace, pod, this.#podLabels(service), this.#randomNode()),
          true,
        );
        this.#push(0, this.#sim.startPod(namespace, pod), true);
        this.#push(0, this.#sim.setPodReady(namespace, pod, true), true);
      }
    }
  }

  /** Runs one phase from `startMs`; returns when the next phase starts. */
  runPhase(phase: ScenarioPhase, index: number, startMs: number): number {
    this.#phase = index;
    const sources: EventSource[] = [];
    let endMs = startMs;
    switch (phase.kind) {
      case "churn":
        sources.push(this.#churn(startMs, phase.podChangesPerSecond, phase.seconds));
        break;
      case "rolling-update":
        sources.push(this.#rollingUpdate(startMs, phase.podChangesPerSecond, phase.fraction));
        break;
      case "namespace-label-flip": {
        const seconds = phase.seconds ?? 0;
        sources.push(this.#namespaceFlips(startMs, phase.namespaces, seconds));
        if (phase.podChangesPerSecond !== undefined && seconds > 0) {
          sources.push(this.#churn(startMs, phase.podChangesPerSecond, seconds));
        }
        endMs = startMs + seconds * 1000;
        break;
      }
      case "node-heartbeats":
        sources.push(this.#heartbeats(startMs, phase.heartbeatsPerSecond, phase.seconds));
        break;
      case "watcher-restart":
        this.#scheduleRestarts(startMs, phase);
        sources.push(this.#churn(startMs, phase.podChangesPerSecond, phase.seconds));
        break;
    }
    for (;;) {
      let next: EventSource | undefined;
      let nextAt = Number.POSITIVE_INFINITY;
      for (const source of sources) {
        const at = source.nextAt();
        if (at !== undefined && at < nextAt) {
          nextAt = at;
          next = source;
        }
      }
      if (next === undefined) break;
      next.emit(nextAt);
      endMs = Math.max(endMs, nextAt);
    }
    return endMs + 1000;
  }

  /**
   * Exactly `rate` pod events a second: a slot runs a due follow-up, else starts a new operation
   * until `seconds` are over; then the remaining follow-ups drain at the same rate.
   */
  #slotted(
    startMs: number,
    rate: number,
    newOperationsUntilMs: number,
    startOperation: (atMs: number) => boolean,
  ): EventSource & { followUps: FollowUp[] } {
    const followUps: FollowUp[] = [];
    const intervalMs = 1000 / rate;
    let slot = 0;
    let starting = true;
    const source = {
      followUps,
      nextAt: (): number | undefined => {
        const at = startMs + slot * intervalMs;
        if (at >= newOperationsUntilMs) starting = false;
        if (!starting && followUps.length === 0) return undefined;
        if (!starting) {
          // Draining: skip idle slots up to the next due follow-up.
          const due = followUps[0]?.dueMs ?? at;
          if (due > at) slot = Math.ceil((due - startMs) / intervalMs);
        }
        return startMs + slot * intervalMs;
      },
      emit: (atMs: number): void => {
        slot++;
        const first = followUps[0];
        if (first !== undefined && first.dueMs <= atMs) {
          followUps.shift();
          this.#push(atMs, first.run(), first.podChange);
          first.done?.();
          return;
        }
        if (starting && startOperation(atMs)) return;
        // Nothing to start (every candidate busy): this slot waits for the next follow-up.
      },
    };
    return source;
  }

  #schedule(followUps: FollowUp[], followUp: FollowUp): void {
    // Follow-ups are few; keep them sorted by due time (stable for equal times).
    let i = followUps.length;
    while (i > 0 && (followUps[i - 1] as FollowUp).dueMs > followUp.dueMs) i--;
    followUps.splice(i, 0, followUp);
  }

  #churn(startMs: number, rate: number, seconds: number): EventSource {
    const services = this.#services.filter((s) => s.pods.length > 0);
    const totalPods = services.reduce((n, s) => n + s.pods.length, 0);
    const source = this.#slotted(startMs, rate, startMs + seconds * 1000, (atMs) => {
      // A uniformly random pod: pick by pod index so big Services get their share of churn.
      const target = this.#pickPod(services, totalPods);
      if (target === undefined) return false;
      const [service, slot] = target;
      if (this.#random() < READINESS_FLIP_SHARE) this.#readinessFlip(service, slot, atMs, source.followUps);
      else this.#replacePod(service, slot, atMs, source.followUps, false);
      return true;
    });
    return source;
  }

  #pickPod(services: readonly ServiceSlots[], totalPods: number): [ServiceSlots, number] | undefined {
    for (let attempt = 0; attempt < 16; attempt++) {
      let index = Math.floor(this.#random() * totalPods);
      for (const service of services) {
        if (index < service.pods.length) {
          if (!service.busy.has(index)) return [service, index];
          break;
        }
        index -= service.pods.length;
      }
    }
    return undefined;
  }

  #readinessFlip(service: ServiceSlots, slot: number, atMs: number, followUps: FollowUp[]): void {
    const pod = service.pods[slot] as string;
    service.busy.add(slot);
    this.#push(atMs, this.#sim.setPodReady(service.namespace, pod, false), true);
    this.#schedule(followUps, {
      dueMs: atMs + READY_FLIP_BACK_MS,
      run: () => this.#sim.setPodReady(service.namespace, pod, true),
      podChange: true,
      done: () => service.busy.delete(slot),
    });
  }

  /**
   * A pod replaced. Churn (an eviction, a crash): the old pod terminates as its replacement is
   * created. Rolling update: the replacement is created first and the old pod terminates once the
   * new one is Ready. Either way the new pod starts (gets a new IP), turns Ready, and the old is deleted.
   */
  #replacePod(
    service: ServiceSlots,
    slot: number,
    atMs: number,
    followUps: FollowUp[],
    surgeFirst: boolean,
  ): void {
    const { namespace } = service;
    const old = service.pods[slot] as string;
    const replacement = `${service.name}-${slot}-r${this.#replacements++}`;
    service.busy.add(slot);
    const create = () =>
      this.#sim.createPod(namespace, replacement, this.#podLabels(service), this.#randomNode());
    const schedule = (delayMs: number, run: () => SimEvent, done?: () => void) =>
      this.#schedule(followUps, { dueMs: atMs + delayMs, run, podChange: true, ...(done ? { done } : {}) });
    const finish = () => {
      service.pods[slot] = replacement;
      service.busy.delete(slot);
    };
    if (surgeFirst) {
      this.#push(atMs, create(), true);
      schedule(START_DELAY_MS, () => this.#sim.startPod(namespace, replacement));
      schedule(READY_DELAY_MS, () => this.#sim.setPodReady(namespace, replacement, true));
      schedule(READY_DELAY_MS, () => this.#sim.terminatePod(namespace, old));
      schedule(DELETE_DELAY_MS, () => this.#sim.deletePod(namespace, old), finish);
      return;
    }
    this.#push(atMs, this.#sim.terminatePod(namespace, old), true);
    schedule(0, create);
    schedule(START_DELAY_MS, () => this.#sim.startPod(namespace, replacement));
    schedule(READY_DELAY_MS, () => this.#sim.setPodReady(namespace, replacement, true));
    schedule(DELETE_DELAY_MS, () => this.#sim.deletePod(namespace, old), finish);
  }

  /** Deployments roll one after another (a fraction of them), every pod of each replaced surge-first. */
  #rollingUpdate(startMs: number, rate: number, fraction: number): EventSource {
    const rolling = this.#services.slice(0, Math.max(1, Math.round(this.#services.length * fraction)));
    let serviceIndex = 0;
    let slotIndex = 0;
    const source = this.#slotted(startMs, rate, Number.POSITIVE_INFINITY, (atMs) => {
      const service = rolling[serviceIndex];
      if (service === undefined) return false;
      if (slotIndex === 0) service.templateHash = templateHash(service.name, ++service.generation);
      this.#replacePod(service, slotIndex, atMs, source.followUps, true);
      if (++slotIndex >= service.pods.length) {
        serviceIndex++;
        slotIndex = 0;
      }
      return true;
    });
    // Stop starting once every chosen pod has been replaced (the slotted source then drains).
    const nextAt = source.nextAt;
    source.nextAt = () =>
      serviceIndex >= rolling.length && source.followUps.length === 0 ? undefined : nextAt();
    return source;
  }

  #namespaceFlips(startMs: number, count: number, seconds: number): EventSource {
    let done = 0;
    const intervalMs = count > 1 ? (seconds * 1000) / count : 0;
    return {
      nextAt: () => (done < count ? startMs + done * intervalMs : undefined),
      emit: (atMs) => {
        const name = `ns-${done++}`;
        const flipped = { team: `team-${(done + 3) % 7}`, env: "prod", "security-tier": "restricted" };
        this.#push(atMs, this.#sim.relabelNamespace(name, flipped), false);
      },
    };
  }

  #heartbeats(startMs: number, rate: number, seconds: number): EventSource {
    const total = Math.round(rate * seconds);
    let sent = 0;
    return {
      nextAt: () => (sent < total ? startMs + (sent * 1000) / rate : undefined),
      emit: (atMs) => {
        const node = this.#nodeNames[sent++ % this.#nodeNames.length] as string;
        this.#push(atMs, this.#sim.heartbeatNode(node), false);
      },
    };
  }

  /**
   * The restarting watchers go down spread over the first backoff period, and each re-lists with
   * "full jitter" exponential backoff: attempt i waits a uniform draw up to min(cap, base x 2^i).
   * With the fleet crowding in, an attempt is assumed refused half of the time, so the number of
   * attempts is geometric (assumption of the model, not a measurement).
   */
  #scheduleRestarts(startMs: number, phase: Extract<ScenarioPhase, { kind: "watcher-restart" }>): void {
    const watchers = this.#scenario.watchers;
    const restarting = Math.max(1, Math.round(watchers * phase.fraction));
    const stride = watchers / restarting;
    for (let i = 0; i < restarting; i++) {
      const watcher = Math.floor(i * stride);
      const restartAtMs = startMs + this.#random() * phase.backoffBaseMs;
      let relistAtMs = restartAtMs;
      for (let attempt = 0; ; attempt++) {
        relistAtMs += this.#random() * Math.min(phase.backoffCapMs, phase.backoffBaseMs * 2 ** attempt);
        if (this.#random() >= RELIST_REFUSED_SHARE || attempt >= 16) break;
      }
      this.restarts.push({ watcher, restartAtMs, relistAtMs });
    }
    this.restarts.sort((a, b) => a.relistAtMs - b.relistAtMs);
  }

  #podLabels(service: ServiceSlots): Record<string, string> {
    return { app: service.name, "pod-template-hash": service.templateHash, tier: "backend" };
  }

  #randomNode(): string {
    return this.#nodeNames[Math.floor(this.#random() * this.#nodeNames.length)] as string;
  }
}

function templateHash(name: string, generation: number): string {
  let hash = 2166136261;
  for (const char of `${name}/${generation}`) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619);
  return (hash >>> 0).toString(36).padStart(7, "0").slice(0, 10);
}
