/**
 * The in-memory ClusterStore: the whole cluster live in one process. Used by the tests, the demo
 * and the core benchmark, and the model the DynamoDB adapter must behave like.
 *
 * Groups are handed out live, not as copies, so loading costs nothing; the price is that nothing
 * may fail between a group's reconcile and its commit (no write gate that can refuse, no failing
 * storage). The DynamoDB store has no such limit: a failed commit is discarded and replayed.
 */
import { IdentityAllocator } from "#shared/core/identity/identity-allocator.ts";
import {
  type ClusterStore,
  ConditionalWriteError,
  GroupConflictError,
  type IdentityStore,
} from "./cluster-store.ts";
import type { CiliumIdentity, NodeRecord } from "./model.ts";
import { inRange, type NameRange, NamespaceGroup } from "./namespace-group.ts";
import type { Versioned } from "./object-versions.ts";
import type { ObjectWrite, OutputKind, OutputObject } from "./output-changes.ts";
import type { SlicingSettings } from "./settings.ts";

export interface StoredObject {
  readonly object: OutputObject;
  readonly sourceTimeMs: number;
}

export { ConditionalWriteError };

export interface MemoryClusterStoreOptions {
  /**
   * false: keep only each output object's resourceVersion (enough for the write conditions), as a
   * benchmark does to measure the core's own memory rather than a second copy of every slice.
   */
  readonly keepObjects?: boolean;
}

export class MemoryClusterStore implements ClusterStore {
  readonly #settings: SlicingSettings;
  readonly #keepObjects: boolean;
  readonly #groups = new Map<string, NamespaceGroup>();
  readonly #committedVersions = new Map<string, number>();
  readonly #nodes = new Map<string, Versioned<NodeRecord>>();
  readonly #objects: Record<OutputKind, Map<string, StoredObject>> = {
    EndpointSlice: new Map(),
    CiliumEndpointSlice: new Map(),
    CiliumIdentity: new Map(),
  };
  readonly identities: MemoryIdentityStore;

  constructor(settings: SlicingSettings, options: MemoryClusterStoreOptions = {}) {
    this.#settings = settings;
    this.#keepObjects = options.keepObjects ?? true;
    this.identities = new MemoryIdentityStore(
      settings.identityGcGraceMs,
      (id) => this.#objects.CiliumIdentity.get(String(id))?.object as CiliumIdentity | undefined,
    );
  }

  async loadGroup(namespace: string): Promise<NamespaceGroup> {
    let group = this.#groups.get(namespace);
    if (group === undefined) {
      group = new NamespaceGroup(namespace, this.#settings);
      this.#groups.set(namespace, group);
    }
    return group;
  }

  async commitGroup(group: NamespaceGroup, writes: readonly ObjectWrite[]): Promise<void> {
    const committed = this.#committedVersions.get(group.name) ?? 0;
    if (group.version !== committed) throw new GroupConflictError(group.name, group.version, committed);
    for (const write of writes) this.#checkCondition(write);
    for (const write of writes) this.#applyWrite(write);
    group.version = committed + 1;
    this.#committedVersions.set(group.name, group.version);
  }

  async commitClusterWrites(writes: readonly ObjectWrite[]): Promise<void> {
    for (const write of writes) this.#checkCondition(write);
    for (const write of writes) this.#applyWrite(write);
  }

  async loadNode(name: string): Promise<Versioned<NodeRecord> | undefined> {
    return this.#nodes.get(name);
  }

  async commitNode(
    name: string,
    entry: Versioned<NodeRecord>,
    expected: Versioned<NodeRecord> | undefined,
  ): Promise<void> {
    if (this.#nodes.get(name) !== expected)
      throw new ConditionalWriteError(`node ${name} changed concurrently`);
    this.#nodes.set(name, entry);
  }

  async zonesOf(nodeNames: Iterable<string>): Promise<Map<string, string | undefined>> {
    const zones = new Map<string, string | undefined>();
    for (const name of nodeNames) {
      const node = this.#nodes.get(name)?.record;
      if (node !== undefined) zones.set(name, node.zone);
    }
    return zones;
  }

  async podsOnNode(nodeName: string): Promise<string[]> {
    const keys: string[] = [];
    for (const group of this.#groups.values()) {
      for (const pod of group.podsOnNode(nodeName)) keys.push(`${group.name}/${pod}`);
    }
    return keys;
  }

  async knownNames(kind: "Namespace" | "Node", range: NameRange): Promise<string[]> {
    if (kind === "Namespace") return [...this.#groups.keys()].filter((name) => inRange(name, range));
    const names: string[] = [];
    for (const [name, entry] of this.#nodes)
      if (entry.record !== undefined && inRange(name, range)) names.push(name);
    return names;
  }

  /** Stored objects of one kind, keyed "namespace/name" (namespaced) or by name. */
  objects(kind: OutputKind): ReadonlyMap<string, StoredObject> {
    return this.#objects[kind];
  }

  groups(): Iterable<NamespaceGroup> {
    return this.#groups.values();
  }

  #checkCondition(write: ObjectWrite): void {
    const stored = this.#objects[write.kind].get(storageKey(write.object));
    const storedVersion = stored?.object.metadata.resourceVersion;
    if (storedVersion !== write.expectedResourceVersion) {
      throw new ConditionalWriteError(
        `${write.op} of ${write.kind} ${storageKey(write.object)} expected resourceVersion ${write.expectedResourceVersion}, found ${storedVersion}`,
      );
    }
  }

  #applyWrite(write: ObjectWrite): void {
    const objects = this.#objects[write.kind];
    const key = storageKey(write.object);
    if (write.op === "delete") {
      objects.delete(key);
      return;
    }
    if (!this.#keepObjects) {
      const { kind, apiVersion } = write.object;
      const metadata = {
        name: write.object.metadata.name,
        resourceVersion: write.object.metadata.resourceVersion,
      };
      objects.set(key, {
        object: { kind, apiVersion, metadata } as OutputObject,
        sourceTimeMs: write.sourceTimeMs,
      });
      return;
    }
    const created =
      objects.get(key)?.object.metadata.creationTimestamp ?? new Date(write.sourceTimeMs).toISOString();
    const object = { ...write.object, metadata: { ...write.object.metadata, creationTimestamp: created } };
    objects.set(key, { object: object as OutputObject, sourceTimeMs: write.sourceTimeMs });
  }
}

export function storageKey(object: OutputObject): string {
  return object.kind === "EndpointSlice"
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
}

/** Central identity allocation in one process, as cilium-operator does it. */
export class MemoryIdentityStore implements IdentityStore {
  readonly allocator: IdentityAllocator;
  readonly #stored: (id: number) => CiliumIdentity | undefined;

  constructor(gcGraceMs: number, stored: (id: number) => CiliumIdentity | undefined) {
    this.allocator = new IdentityAllocator({ gcGraceMs });
    this.#stored = stored;
  }

  async acquire(
    labels: Record<string, string>,
    nowMs: number,
  ): Promise<{ id: number; created: CiliumIdentity | undefined }> {
    const { id, created } = this.allocator.acquire(labels, nowMs);
    return { id, created: created ? this.allocator.toCiliumIdentity(id) : undefined };
  }

  async release(id: number, nowMs: number): Promise<void> {
    this.allocator.release(id, nowMs);
  }

  async collectGarbage(nowMs: number): Promise<CiliumIdentity[]> {
    const deleted: CiliumIdentity[] = [];
    for (const id of this.allocator.collectGarbage(nowMs)) {
      const stored = this.#stored(id);
      if (stored !== undefined) deleted.push(structuredClone(stored));
    }
    return deleted;
  }
}
