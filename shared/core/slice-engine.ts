/**
 * The slicing core's entry point: a batch of validated watch events in, object writes out.
 *
 * A batch is applied group by group (a namespace at a time). Each group is loaded, its events
 * applied in order (stale ones dropped by resourceVersion), reconciled once for the whole batch,
 * and committed under a version check; a conflicting concurrent writer makes the group replay
 * from a fresh load, which is safe because applying an event twice changes nothing.
 *
 * With `isolateFailures`, each namespace group and each Node event is a unit of its own: a unit
 * that fails (after its conflict replays) is reported with its events and the others still
 * commit, then identity garbage collection runs. Without it, the first failure is thrown.
 */
import { type InputEvent, isSyncEvent, type SyncEvent } from "#shared/k8s/watch-event-schema.ts";
import type { ClusterStore } from "./cluster-store.ts";
import { ConditionalWriteError, GroupConflictError } from "./cluster-store.ts";
import type { GroupContext } from "./group-reconcile.ts";
import type { CiliumIdentity, NodeRecord } from "./model.ts";
import { type ApplyOutcome, inRange, type NamespaceGroup } from "./namespace-group.ts";
import { isNewerThan } from "./object-versions.ts";
import { jsonBytes, type ObjectWrite } from "./output-changes.ts";
import type { ReconcileObserver } from "./reconcile-observer.ts";
import { refOf, toNodeRecord, toSlimRecord } from "./records.ts";
import { RevisionClock } from "./revision-clock.ts";
import type { SlicingSettings } from "./settings.ts";

export interface SourcedEvent {
  /** A change, or a resync (SYNC: see docs/input-events.md). */
  readonly event: InputEvent;
  /** When the change happened at the source (watch time or SQS SentTimestamp), ms since epoch. */
  readonly sourceTimeMs: number;
}

export interface BatchReport {
  readonly eventsIn: number;
  /** Events that changed an output-relevant field. */
  readonly applied: number;
  /** Events not newer than what was already applied (duplicates, reordering). */
  readonly stale: number;
  /** Newer events that touched no output field (heartbeats, annotations). */
  readonly unchanged: number;
  readonly writes: ObjectWrite[];
  /** Group commits that lost a race and were replayed. */
  readonly conflictRetries: number;
  /** Units that failed (only with isolateFailures): nothing of theirs was committed. */
  readonly failures: readonly UnitFailure[];
}

/** A namespace group, a Node event or the identity garbage collection that could not be applied. */
export interface UnitFailure {
  /** "namespace <name>", "node <name>" or "identity garbage collection". */
  readonly unit: string;
  readonly error: unknown;
  /**
   * The batch's events whose effect on the unit was not applied (the same objects): its own, and
   * for a namespace group the Node events that moved its pods (the Nodes themselves committed).
   */
  readonly events: readonly SourcedEvent[];
}

export interface ApplyBatchOptions {
  /** Report a failing unit in BatchReport.failures and go on with the others, instead of throwing. */
  readonly isolateFailures?: boolean;
}

export interface SliceEngineOptions {
  readonly settings: SlicingSettings;
  readonly store: ClusterStore;
  readonly nowMs?: () => number;
  /** Attempts per group before a conflict is given up to the caller (who retries the batch). */
  readonly maxGroupAttempts?: number;
  /**
   * Namespace groups of one batch reconciled at once (default 1: one after another), in waves: a
   * wave's groups all load and reconcile, then all commit, so that their commits reach the store's
   * stream together (a fan-out invocation, and a delivery to every watcher, per stream poll they
   * straddle). Groups are independent units (their own records, slices and commit), so with a
   * store whose round trips dominate (DynamoDB) a batch's groups can overlap their waits; the
   * identities they allocate then take ids in another order, nothing else changes.
   */
  readonly groupConcurrency?: number;
  /** Asked before each commit that writes objects: the write-rate budget. */
  readonly writeGate?: { admit(writes: number): Promise<void> };
  /** Told of every committed group reconcile (the benchmark counts its baselines from it). */
  readonly observer?: ReconcileObserver;
}

export class SliceEngine {
  readonly #settings: SlicingSettings;
  readonly #store: ClusterStore;
  readonly #nowMs: () => number;
  readonly #revisions: RevisionClock;
  readonly #maxGroupAttempts: number;
  readonly #groupConcurrency: number;
  readonly #writeGate: SliceEngineOptions["writeGate"];
  readonly #observer: ReconcileObserver | undefined;

  constructor(options: SliceEngineOptions) {
    this.#settings = options.settings;
    this.#store = options.store;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#revisions = new RevisionClock(this.#nowMs);
    this.#maxGroupAttempts = options.maxGroupAttempts ?? 5;
    this.#groupConcurrency = Math.max(1, Math.floor(options.groupConcurrency ?? 1));
    this.#writeGate = options.writeGate;
    this.#observer = options.observer;
  }

  async applyBatch(batch: readonly SourcedEvent[], options: ApplyBatchOptions = {}): Promise<BatchReport> {
    const counts: Record<ApplyOutcome, number> = { applied: 0, stale: 0, unchanged: 0 };
    const writes: ObjectWrite[] = [];
    const failures: UnitFailure[] = [];
    const fail = (unit: string, error: unknown, events: readonly SourcedEvent[]): void => {
      if (options.isolateFailures !== true) throw error;
      failures.push({ unit, error, events });
    };
    const byGroup = new Map<string, SourcedEvent[]>();
    const nodeDirt = new Map<string, number>();
    /** The Node events whose pods must be reconciled, by node: a group that fails owes them too. */
    const nodeEvents = new Map<string, SourcedEvent[]>();
    const addToGroup = (namespace: string, item: SourcedEvent): void => {
      let events = byGroup.get(namespace);
      if (events === undefined) {
        events = [];
        byGroup.set(namespace, events);
      }
      events.push(item);
    };
    for (const item of batch) {
      const event = item.event;
      if (isSyncEvent(event)) {
        if (event.kind === "Pod" || event.kind === "Service") {
          addToGroup(event.namespace as string, item);
          continue;
        }
        let targets: string[];
        try {
          targets = await this.#syncTargets(event);
        } catch (error) {
          fail(`${event.kind} resync`, error, [item]);
          continue;
        }
        if (targets.length === 0) counts.unchanged++;
        if (event.kind === "Namespace") {
          for (const namespace of targets) addToGroup(namespace, item);
          continue;
        }
        for (const name of targets) {
          let outcome: ApplyOutcome | "replayed";
          try {
            outcome = await this.#applyNode(name, event.resourceVersion, undefined);
          } catch (error) {
            fail(`node ${name}`, error, [item]);
            continue;
          }
          counts[outcome === "replayed" ? "stale" : outcome]++;
          if (outcome === "applied" || outcome === "replayed") {
            markEarliest(nodeDirt, name, item.sourceTimeMs);
            nodeEvents.set(name, [...(nodeEvents.get(name) ?? []), item]);
          }
        }
        continue;
      }
      const object = event.object;
      if (object.kind === "Node") {
        let outcome: ApplyOutcome | "replayed";
        try {
          outcome = await this.#applyNode(
            object.metadata.name,
            object.metadata.resourceVersion,
            event.type === "DELETED" ? undefined : toNodeRecord(object),
          );
        } catch (error) {
          fail(`node ${object.metadata.name}`, error, [item]);
          continue;
        }
        counts[outcome === "replayed" ? "stale" : outcome]++;
        if (outcome === "applied" || outcome === "replayed") {
          markEarliest(nodeDirt, object.metadata.name, item.sourceTimeMs);
          nodeEvents.set(object.metadata.name, [...(nodeEvents.get(object.metadata.name) ?? []), item]);
        }
        continue;
      }
      addToGroup(object.kind === "Namespace" ? object.metadata.name : object.metadata.namespace, item);
    }
    const podsOfDirtyNodes = await this.#podsOfDirtyNodes(nodeDirt);
    for (const namespace of podsOfDirtyNodes.keys()) if (!byGroup.has(namespace)) byGroup.set(namespace, []);
    const owedNodeEvents = (namespace: string): SourcedEvent[] =>
      [...(podsOfDirtyNodes.get(namespace)?.nodes ?? [])].flatMap((node) => nodeEvents.get(node) ?? []);

    let conflictRetries = 0;
    const groups = [...byGroup];
    const groupRuns = await inWaves(groups, this.#groupConcurrency, async ([namespace, events], planned) => {
      let retries = 0;
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await this.#processGroup(
            namespace,
            events,
            podsOfDirtyNodes.get(namespace)?.pods,
            attempt === 1 ? planned : undefined,
          );
          return { retries, result, error: undefined };
        } catch (error) {
          if (error instanceof GroupConflictError && attempt < this.#maxGroupAttempts) {
            retries++;
            continue;
          }
          return { retries, result: undefined, error };
        } finally {
          // A group that failed before its commit must not hold up the rest of its wave.
          if (attempt === 1) planned.arrive();
        }
      }
    });
    // Reported in the batch's group order, whatever order the groups finished in.
    for (const [index, [namespace, events]] of groups.entries()) {
      const run = groupRuns[index] as (typeof groupRuns)[number];
      conflictRetries += run.retries;
      if (run.result !== undefined) {
        for (const outcome of run.result.outcomes) counts[outcome]++;
        writes.push(...run.result.writes);
        continue;
      }
      // The Node events that moved its pods are owed too: applied, they would be stale on
      // a retry, but an exact replay of an applied Node event reconciles its pods again.
      fail(`namespace ${namespace}`, run.error, [...events, ...owedNodeEvents(namespace)]);
    }
    // Collection frees identities for every group, so it runs whatever happened to the others.
    try {
      writes.push(...(await this.#collectIdentityGarbage()));
    } catch (error) {
      fail("identity garbage collection", error, []);
    }
    return { eventsIn: batch.length, ...counts, writes, conflictRetries, failures };
  }

  /**
   * Concurrent ingest invocations both see pods on a node and may write the same Node: a lost
   * conditional write is reloaded and decided again (the other writer may have stored a newer
   * version, which makes this event stale), like a namespace group conflict.
   */
  async #applyNode(
    name: string,
    resourceVersion: string,
    record: NodeRecord | undefined,
  ): Promise<ApplyOutcome | "replayed"> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#applyNodeOnce(name, resourceVersion, record);
      } catch (error) {
        if (!(error instanceof ConditionalWriteError) || attempt >= this.#maxGroupAttempts) throw error;
      }
    }
  }

  /** A Node change; `record` undefined deletes it (a DELETED event, or a resync not listing it). */
  async #applyNodeOnce(
    name: string,
    resourceVersion: string,
    record: NodeRecord | undefined,
  ): Promise<ApplyOutcome | "replayed"> {
    const current = await this.#store.loadNode(name);
    if (!isNewerThan(resourceVersion, current)) {
      // The very event already applied, delivered again: an SQS duplicate, or a retry after the
      // groups of its pods failed (or the invocation died) once the Node itself was committed.
      // Its pods are reconciled again, which writes nothing where they are already right.
      return current?.resourceVersion === resourceVersion ? "replayed" : "stale";
    }
    const entry =
      record === undefined
        ? { resourceVersion, record, deletedAtMs: this.#nowMs() }
        : { resourceVersion, record };
    await this.#store.commitNode(name, entry, current);
    // Endpoints read only the zone; addresses and heartbeats change nothing downstream.
    return current?.record?.zone === record?.zone && record !== undefined ? "unchanged" : "applied";
  }

  /**
   * What a cluster-scoped resync deletes: the namespace groups, or the live Nodes, in its range
   * that it does not list (whether each is older than the list is decided where it is applied).
   */
  async #syncTargets(sync: SyncEvent): Promise<string[]> {
    const listed = new Set(sync.names);
    const known = await this.#store.knownNames(sync.kind as "Namespace" | "Node", sync.range);
    return known.filter((name) => !listed.has(name));
  }

  /** Per namespace: its pods on the dirty nodes (with the earliest source time), and those nodes. */
  async #podsOfDirtyNodes(
    nodeDirt: Map<string, number>,
  ): Promise<Map<string, { pods: Map<string, number>; nodes: Set<string> }>> {
    const byNamespace = new Map<string, { pods: Map<string, number>; nodes: Set<string> }>();
    for (const [node, sourceTimeMs] of nodeDirt) {
      for (const key of await this.#store.podsOnNode(node)) {
        const slash = key.indexOf("/");
        const namespace = key.slice(0, slash);
        let entry = byNamespace.get(namespace);
        if (entry === undefined) {
          entry = { pods: new Map(), nodes: new Set() };
          byNamespace.set(namespace, entry);
        }
        markEarliest(entry.pods, key.slice(slash + 1), sourceTimeMs);
        entry.nodes.add(node);
      }
    }
    return byNamespace;
  }

  /**
   * Load, reconcile and commit one group. `planned`: on a first attempt, the group's wave, whose
   * groups all plan before any commits, so that their commits reach the store (and its stream)
   * together: one fan-out invocation per batch rather than one per stream poll the commits straddle.
   */
  async #processGroup(
    namespace: string,
    events: readonly SourcedEvent[],
    podsOfDirtyNodes: Map<string, number> | undefined,
    planned: WaveBarrier | undefined,
  ): Promise<{ outcomes: ApplyOutcome[]; writes: ObjectWrite[] }> {
    const group = await this.#store.loadGroup(namespace);
    const nowMs = this.#nowMs();
    const outcomes = events.map((item) => applyToGroup(group, item, nowMs));
    for (const [pod, sourceTimeMs] of podsOfDirtyNodes ?? []) group.markPodDirty(pod, sourceTimeMs);
    group.sweepTombstones(nowMs, this.#settings.tombstoneRetentionMs);
    if (!group.dirty) {
      await planned?.arriveAndWait();
      if (outcomes.some((o) => o !== "stale")) await this.#store.commitGroup(group, []);
      return { outcomes, writes: [] };
    }
    const context = await this.#groupContext(group, nowMs);
    const { writes, reconciled } = await group.reconcile(context.context);
    writes.push(...context.identityWrites);
    await planned?.arriveAndWait();
    if (writes.length > 0) await this.#writeGate?.admit(writes.length);
    await this.#store.commitGroup(group, writes);
    this.#observer?.groupReconciled(reconciled, this.#settings);
    return { outcomes, writes };
  }

  async #groupContext(
    group: NamespaceGroup,
    nowMs: number,
  ): Promise<{ context: GroupContext; identityWrites: ObjectWrite[] }> {
    const zones = await this.#store.zonesOf(group.nodesToResolve(), group.name);
    const identityWrites: ObjectWrite[] = [];
    const identities = this.#store.identities;
    const context: GroupContext = {
      settings: this.#settings,
      nowMs,
      zoneOf: (node) => zones.get(node),
      acquireIdentity: async (labels, sourceTimeMs) => {
        const { id, created } = await identities.acquire(labels, nowMs, group.name);
        if (created !== undefined) identityWrites.push(this.#identityWrite("create", created, sourceTimeMs));
        return id;
      },
      releaseIdentity: (id) => identities.release(id, nowMs),
      nextRevision: (previous) => this.#revisions.next(previous),
    };
    return { context, identityWrites };
  }

  async #collectIdentityGarbage(): Promise<ObjectWrite[]> {
    const nowMs = this.#nowMs();
    const deleted = await this.#store.identities.collectGarbage(nowMs);
    const writes = deleted.map((identity) => this.#identityWrite("delete", identity, nowMs));
    if (writes.length > 0) await this.#store.commitClusterWrites(writes);
    return writes;
  }

  #identityWrite(op: "create" | "delete", identity: CiliumIdentity, sourceTimeMs: number): ObjectWrite {
    const expectedResourceVersion = identity.metadata.resourceVersion;
    identity.metadata.resourceVersion = this.#revisions.next(expectedResourceVersion);
    return {
      kind: "CiliumIdentity",
      op,
      object: identity,
      expectedResourceVersion,
      bytes: jsonBytes(identity),
      sourceTimeMs,
    };
  }
}

function applyToGroup(group: NamespaceGroup, item: SourcedEvent, nowMs: number): ApplyOutcome {
  const { event, sourceTimeMs } = item;
  if (isSyncEvent(event)) {
    if (event.kind === "Namespace") {
      // Routed here because the resync does not list this namespace; checked again all the same.
      if (!inRange(group.name, event.range) || event.names.includes(group.name)) return "unchanged";
      return group.applyNamespaceGone(event.resourceVersion, sourceTimeMs, nowMs);
    }
    if (event.kind === "Node") throw new TypeError("Node resync routed to a namespace group");
    return group.applySync(
      event.kind,
      new Set(event.names),
      event.range,
      event.resourceVersion,
      sourceTimeMs,
      nowMs,
    );
  }
  const deleted = event.type === "DELETED";
  const slim = toSlimRecord(event.object);
  const resourceVersion = event.object.metadata.resourceVersion;
  switch (slim.kind) {
    case "Pod":
    case "Service":
      return group.applyRecord(
        slim.kind,
        slim.record.name,
        resourceVersion,
        deleted ? undefined : slim.record,
        sourceTimeMs,
        nowMs,
      );
    case "Namespace":
      return group.applyNamespace(resourceVersion, deleted ? undefined : slim.record, sourceTimeMs, nowMs);
    case "Node":
      throw new TypeError(`Node ${refOf(event.object).name} routed to a namespace group`);
  }
}

function markEarliest(times: Map<string, number>, key: string, timeMs: number): void {
  const current = times.get(key);
  if (current === undefined || timeMs < current) times.set(key, timeMs);
}

/**
 * One group's place in its wave: the wave's groups wait for each other between planning and
 * committing. A group arrives once, whether at its commit or when its first attempt ends.
 */
interface WaveBarrier {
  arriveAndWait(): Promise<void>;
  arrive(): void;
}

/**
 * `work` over every item in waves of `size` at once, each item with its seat in its wave's barrier;
 * results in the items' order.
 */
async function inWaves<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T, barrier: WaveBarrier) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size) {
    const wave = items.slice(start, start + size);
    let waiting = wave.length;
    const { promise: everyonePlanned, resolve: release } = Promise.withResolvers<void>();
    const seat = (): WaveBarrier => {
      let arrived = false;
      const arrive = () => {
        if (arrived) return;
        arrived = true;
        waiting--;
        if (waiting === 0) release();
      };
      return {
        arrive,
        arriveAndWait: () => {
          arrive();
          return everyonePlanned;
        },
      };
    };
    results.push(...(await Promise.all(wave.map((item) => work(item, seat())))));
  }
  return results;
}
