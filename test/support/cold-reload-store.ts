/**
 * A ClusterStore whose groups can go cold: at the loads the test picks, the group handed out is
 * rebuilt (NamespaceGroup.restore) from what a persistent store holds of it, the way a Lambda
 * that was not warm reloads a group from DynamoDB; at the others the committed group is handed
 * out live, as a warm Lambda reuses it. Objects, nodes and identities are an inner
 * MemoryClusterStore's, so its stored objects can be compared with a long-lived store's.
 *
 * The snapshot keeps the group's own iteration order (DynamoDB would return items in key
 * order): the only thing a reload may change is then what the group failed to store. A test
 * may pass `reorderSlices` to have a reload present the stored slices in another order (a
 * cold group must not depend on the order in which it is handed its slices either).
 */
import type { SimEvent } from "#scripts/sim/cluster-simulator.ts";
import type { ClusterStore } from "#shared/core/cluster-store.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, EndpointSlice, NodeRecord } from "#shared/core/model.ts";
import { type GroupSnapshot, inRange, type NameRange, NamespaceGroup } from "#shared/core/namespace-group.ts";
import type { Versioned } from "#shared/core/object-versions.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

/** The stored slices of one kind in the order a reload presents them (given: the stored order). */
export type SliceReorder = <T>(kind: "EndpointSlice" | "CiliumEndpointSlice", slices: T[]) => T[];

export class ColdReloadStore implements ClusterStore {
  readonly inner: MemoryClusterStore;
  readonly #settings: SlicingSettings;
  readonly #coldLoad: (namespace: string) => boolean;
  readonly #reorderSlices: SliceReorder;
  /** The committed groups, as a warm store keeps them. */
  readonly #groups = new Map<string, NamespaceGroup>();
  coldLoads = 0;

  /** `coldLoad` is asked at every load of a group stored before: rebuild it from storage? */
  constructor(
    settings: SlicingSettings,
    coldLoad: (namespace: string) => boolean,
    reorderSlices: SliceReorder = (_, slices) => slices,
  ) {
    this.inner = new MemoryClusterStore(settings);
    this.#settings = settings;
    this.#coldLoad = coldLoad;
    this.#reorderSlices = reorderSlices;
  }

  get identities(): MemoryClusterStore["identities"] {
    return this.inner.identities;
  }

  async loadGroup(namespace: string): Promise<NamespaceGroup> {
    const live = this.#groups.get(namespace);
    if (live === undefined) {
      const group = new NamespaceGroup(namespace, this.#settings);
      this.#groups.set(namespace, group);
      return group;
    }
    if (!this.#coldLoad(namespace)) return live;
    this.coldLoads++;
    const restored = NamespaceGroup.restore(namespace, this.#settings, this.#stored(live));
    this.#groups.set(namespace, restored);
    return restored;
  }

  async commitGroup(group: NamespaceGroup, writes: readonly ObjectWrite[]): Promise<void> {
    await this.inner.commitGroup(group, writes);
    this.#groups.set(group.name, group);
  }

  commitClusterWrites(writes: readonly ObjectWrite[]): Promise<void> {
    return this.inner.commitClusterWrites(writes);
  }

  loadNode(name: string): Promise<Versioned<NodeRecord> | undefined> {
    return this.inner.loadNode(name);
  }

  commitNode(
    name: string,
    entry: Versioned<NodeRecord>,
    expected: Versioned<NodeRecord> | undefined,
  ): Promise<void> {
    return this.inner.commitNode(name, entry, expected);
  }

  zonesOf(nodeNames: Iterable<string>): Promise<Map<string, string | undefined>> {
    return this.inner.zonesOf(nodeNames);
  }

  async podsOnNode(nodeName: string): Promise<string[]> {
    return [...this.#groups.values()].flatMap((group) =>
      group.podsOnNode(nodeName).map((pod) => `${group.name}/${pod}`),
    );
  }

  async knownNames(kind: "Namespace" | "Node", range: NameRange): Promise<string[]> {
    if (kind === "Node") return this.inner.knownNames(kind, range);
    return [...this.#groups.keys()].filter((name) => inRange(name, range));
  }

  /** What a persistent store holds of the group: its records and counter, its stored objects. */
  #stored(group: NamespaceGroup): GroupSnapshot {
    const stored = <T>(kind: "EndpointSlice" | "CiliumEndpointSlice", inGroup: (object: T) => boolean) =>
      this.#reorderSlices(
        kind,
        [...this.inner.objects(kind).values()]
          .map(({ object }) => structuredClone(object) as T)
          .filter(inGroup),
      );
    return {
      version: group.version,
      namespaceEntry: structuredClone(group.namespaceEntry),
      pods: structuredClone([...group.pods]),
      services: structuredClone([...group.services]),
      podIdentities: [...group.podIdentities],
      endpointSlices: stored<EndpointSlice>("EndpointSlice", (s) => s.metadata.namespace === group.name),
      ciliumEndpointSlices: stored<CiliumEndpointSlice>(
        "CiliumEndpointSlice",
        (s) => s.namespace === group.name,
      ),
      sliceNameCounters: group.sliceNameCounters,
    };
  }
}

/**
 * The writes as they bear on what a group holds next, one string per write. Not
 * creationTimestamp, which only a reloaded group has (from storage), nor the byte counts.
 */
export function heldAfter(writes: readonly ObjectWrite[]): string[] {
  return writes.map(({ op, kind, expectedResourceVersion, object }) => {
    const { creationTimestamp: _, ...metadata } = object.metadata;
    return JSON.stringify({ op, kind, expectedResourceVersion, object: { ...object, metadata } });
  });
}

/**
 * Each batch through a long-lived engine (a warm Lambda on a memory store) and through one on
 * `reloaded`, in step; `check` gets both engines' writes for the batch and whether `reloaded`
 * went cold during it, and answers whether to go on.
 */
export async function replayWarmAndCold(
  settings: SlicingSettings,
  reloaded: ColdReloadStore,
  batches: readonly SimEvent[][],
  nowMs: number,
  check: (index: number, expected: ObjectWrite[], got: ObjectWrite[], coldLoaded: boolean) => boolean,
): Promise<void> {
  const longLived = new SliceEngine({
    settings,
    store: new MemoryClusterStore(settings),
    nowMs: () => nowMs,
  });
  const cold = new SliceEngine({ settings, store: reloaded, nowMs: () => nowMs });
  for (const [index, batch] of batches.entries()) {
    const parsed = parseMessageBody(JSON.stringify({ events: batch }));
    if (parsed.rejected.length > 0) throw new Error(`batch ${index} has rejected events`);
    const events = parsed.events.map((event) => ({ event, sourceTimeMs: nowMs - 1000 }));
    const expected = (await longLived.applyBatch(events)).writes;
    const coldLoadsBefore = reloaded.coldLoads;
    const got = (await cold.applyBatch(events)).writes;
    if (!check(index, expected, got, reloaded.coldLoads > coldLoadsBefore)) return;
  }
}
