/**
 * The CiliumEndpointSlices of one namespace, packed as cilium-operator's CES controller packs them.
 *
 * The point of a CES is that a pod change costs every node one small event instead of one per
 * endpoint; so the packer's job is to turn a batch of endpoint changes into as few slice writes as
 * possible, never a write that changes nothing, and never more than one write for a single pod
 * change in "fcfs" mode.
 *
 * Placement, in order of preference for an endpoint that needs a (new) slice:
 *  1. a slice this batch writes anyway, if it has room (joining it is free), the fullest first;
 *  2. the fullest slice with room (Cilium's "largest available CES"), so slices stay dense;
 *  3. a new slice.
 * An endpoint already in a slice stays there when its content changes ("fcfs": first come, first
 * served). In "identity" mode (Cilium's identity batching) a slice holds a single identity, so an
 * endpoint whose identity changes moves to a slice of its new identity unless it can change in
 * place (it was alone, or all its slice-mates already have the new identity): such a move writes
 * two slices. Slices left empty at the end of a batch are deleted; within a batch an emptied slice
 * is still reused, which turns a delete plus a create into one update.
 */
import type { CiliumEndpointSlice, CoreCiliumEndpoint, ObjectMeta } from "#shared/core/model.ts";
import { SliceNameCounter } from "#shared/core/slice-name-counter.ts";
import { packEntry, type StoredEntry, storedEntryEquals, unpackEntry } from "./packed-entry.ts";

export type CesBatchingMode = "fcfs" | "identity";

export interface CesSettings {
  /** cilium-operator's ces-max-ciliumendpoints-per-ces; 50 here as in the 5k-node talk. */
  readonly maxEndpointsPerCES: number;
  readonly batchingMode: CesBatchingMode;
}

export const DEFAULT_MAX_ENDPOINTS_PER_CES = 50;

export interface CesWrites {
  /** New slices, without metadata.resourceVersion. */
  creates: CiliumEndpointSlice[];
  /** Changed slices, with the resourceVersion last recorded for them. */
  updates: CiliumEndpointSlice[];
  /** Slices left empty, as last known (with their resourceVersion, for a conditional delete). */
  deletes: CiliumEndpointSlice[];
}

export class InvalidCesSettingsError extends Error {
  override name = "InvalidCesSettingsError";
}

/** An entry that does not fit the pod it is filed under, or an existing slice from elsewhere. */
export class InvalidCesInputError extends Error {
  override name = "InvalidCesInputError";
}

export function validateCesSettings(settings: Partial<CesSettings>): CesSettings {
  const max = settings.maxEndpointsPerCES ?? DEFAULT_MAX_ENDPOINTS_PER_CES;
  if (!Number.isInteger(max) || max < 1 || max > 1000) {
    throw new InvalidCesSettingsError(`maxEndpointsPerCES must be an integer in 1..1000, got ${max}`);
  }
  const mode = settings.batchingMode ?? "fcfs";
  if (mode !== "fcfs" && mode !== "identity") {
    throw new InvalidCesSettingsError(`batchingMode must be "fcfs" or "identity", got ${String(mode)}`);
  }
  return { maxEndpointsPerCES: max, batchingMode: mode };
}

interface SliceState {
  readonly name: string;
  /** Metadata as stored (kept for updates), resourceVersion included. */
  metadata: ObjectMeta;
  /** Pod name -> entry, in insertion order, which is the order endpoints are written in. */
  readonly entries: EntryList;
  readonly identityCounts: Map<number, number>;
  /** The bucket the slice currently sits in, so moving it between buckets is O(1). */
  bucket: { readonly poolKey: string; readonly size: number } | undefined;
}

/** Room-having slices of one placement group, bucketed by size so "fullest" is cheap. */
class SlicePool {
  readonly #bySize = new Map<number, Set<SliceState>>();

  add(slice: SliceState, size: number): void {
    let bucket = this.#bySize.get(size);
    if (bucket === undefined) {
      bucket = new Set();
      this.#bySize.set(size, bucket);
    }
    bucket.add(slice);
  }

  remove(slice: SliceState, size: number): void {
    const bucket = this.#bySize.get(size);
    if (bucket === undefined) return;
    bucket.delete(slice);
    if (bucket.size === 0) this.#bySize.delete(size);
  }

  /**
   * The fullest slice, the first by name among equally full ones: a bucket's own order is the
   * history of this process (when each slice last changed size), which a group reloaded from
   * storage does not have, and the choice must not depend on whether the group was reloaded.
   * Its cost is the number of distinct sizes plus the fullest bucket's size.
   */
  fullest(): SliceState | undefined {
    let best = -1;
    for (const size of this.#bySize.keys()) if (size > best) best = size;
    if (best < 0) return undefined;
    let first: SliceState | undefined;
    for (const slice of this.#bySize.get(best) ?? []) {
      if (first === undefined || slice.name < first.name) first = slice;
    }
    return first;
  }

  get empty(): boolean {
    return this.#bySize.size === 0;
  }
}

/**
 * The caller's entry is taken over, frozen: the slices keep it (or a packed form sharing its
 * strings and port list, see packEntry) rather than a copy. Objects handed out are copies.
 */
function ownedEntry(entry: CoreCiliumEndpoint): StoredEntry {
  if (!Object.isFrozen(entry)) {
    Object.freeze(entry.networking.addressing);
    for (const pair of entry.networking.addressing) Object.freeze(pair);
    Object.freeze(entry.networking);
    Object.freeze(entry);
  }
  return packEntry(entry);
}

/**
 * A slice's entries by pod name, in the order they are written. An array rather than a Map: a
 * scan of at most maxEndpointsPerCES entries, on the few pods a batch changes, costs less than a
 * hash-table entry for every pod held.
 */
class EntryList {
  readonly #entries: StoredEntry[] = [];

  get size(): number {
    return this.#entries.length;
  }

  get(podName: string): StoredEntry | undefined {
    const at = this.#indexOf(podName);
    return at < 0 ? undefined : this.#entries[at];
  }

  /** Replaces in place (the entry keeps its position) or appends, as Map.set does. */
  set(podName: string, entry: StoredEntry): void {
    const at = this.#indexOf(podName);
    if (at < 0) this.#entries.push(entry);
    else this.#entries[at] = entry;
  }

  delete(podName: string): void {
    const at = this.#indexOf(podName);
    if (at >= 0) this.#entries.splice(at, 1);
  }

  values(): readonly StoredEntry[] {
    return this.#entries;
  }

  #indexOf(podName: string): number {
    const entries = this.#entries;
    for (let i = 0; i < entries.length; i++) if ((entries[i] as StoredEntry).name === podName) return i;
    return -1;
  }
}

const EMPTY_GROUP = "empty";
const ANY_GROUP = "any";

export class NamespaceCiliumEndpointSlices {
  readonly namespace: string;
  readonly settings: CesSettings;
  readonly #slices = new Map<string, SliceState>();
  readonly #sliceOfPod = new Map<string, SliceState>();
  readonly #pools = new Map<string, SlicePool>();
  /** Slices this batch writes; between batches it holds only repairs found in `existing`. */
  readonly #touched = new Set<SliceState>();
  readonly #created = new Set<SliceState>();
  readonly #namePrefix: string;
  readonly #nameCounter: SliceNameCounter;

  /** `nameCounter`: the namespace group's (slice-name-counter.ts); without it, one of its own. */
  constructor(
    namespace: string,
    settings: Partial<CesSettings>,
    existing: Iterable<CiliumEndpointSlice> = [],
    nameCounter = new SliceNameCounter(),
  ) {
    this.namespace = namespace;
    this.settings = validateCesSettings(settings);
    this.#namePrefix = `ces-${namespace}-`;
    this.#nameCounter = nameCounter;
    for (const slice of existing) this.#adoptExisting(slice);
  }

  /**
   * Applies the final state of each changed pod (undefined: it has no endpoint any more) and
   * returns the writes that bring storage to the new packing. The same pod named twice: last wins.
   * Slices from `existing` that needed repair (duplicate or empty) are written by the first call.
   */
  reconcile(changed: Iterable<readonly [podName: string, entry: CoreCiliumEndpoint | undefined]>): CesWrites {
    const desired = new Map<string, CoreCiliumEndpoint | undefined>();
    for (const [podName, entry] of changed) {
      if (entry !== undefined) this.#checkEntry(podName, entry);
      desired.set(podName, entry);
    }
    // Leavers and in-place changes first: the room they free is then offered to the arrivals.
    const arrivals: Array<readonly [string, CoreCiliumEndpoint]> = [];
    for (const [podName, entry] of desired) {
      const current = this.#sliceOfPod.get(podName);
      if (entry === undefined) {
        if (current !== undefined) this.#removeEntry(current, podName);
      } else if (current === undefined) {
        arrivals.push([podName, entry]);
      } else if (!this.#changeInPlace(current, podName, entry)) {
        this.#removeEntry(current, podName);
        arrivals.push([podName, entry]);
      }
    }
    for (const [podName, entry] of arrivals) this.#insertEntry(this.#placementFor(entry.id), podName, entry);
    return this.#collectWrites();
  }

  /** Copies of all current slices. */
  slices(): CiliumEndpointSlice[] {
    return [...this.#slices.values()].map((slice) => this.#toObject(slice));
  }

  hasPod(podName: string): boolean {
    return this.#sliceOfPod.has(podName);
  }

  sliceNameOf(podName: string): string | undefined {
    return this.#sliceOfPod.get(podName)?.name;
  }

  get podCount(): number {
    return this.#sliceOfPod.size;
  }

  /** Records the resourceVersion storage gave a written slice; false when the slice is not (any more) known. */
  setResourceVersion(name: string, resourceVersion: string): boolean {
    const slice = this.#slices.get(name);
    if (slice === undefined) return false;
    slice.metadata = { ...slice.metadata, resourceVersion };
    return true;
  }

  #checkEntry(podName: string, entry: CoreCiliumEndpoint): void {
    if (entry.name !== podName) {
      throw new InvalidCesInputError(
        `entry named ${JSON.stringify(entry.name)} filed under pod ${JSON.stringify(podName)}`,
      );
    }
    if (!Number.isInteger(entry.id)) {
      throw new InvalidCesInputError(
        `pod ${JSON.stringify(podName)}: identity id must be an integer, got ${entry.id}`,
      );
    }
  }

  /** false when the entry must move instead (identity mode, identity changed, slice-mates differ). */
  #changeInPlace(slice: SliceState, podName: string, entry: CoreCiliumEndpoint): boolean {
    const old = slice.entries.get(podName) as StoredEntry;
    if (storedEntryEquals(old, entry)) return true;
    if (
      this.settings.batchingMode === "identity" &&
      old.id !== entry.id &&
      !staysSingleIdentity(slice, old.id, entry.id)
    ) {
      return false;
    }
    this.#countIdentity(slice, old.id, -1);
    this.#countIdentity(slice, entry.id, +1);
    slice.entries.set(podName, ownedEntry(entry));
    this.#touch(slice);
    return true;
  }

  #placementFor(identityId: number): SliceState {
    const group = this.settings.batchingMode === "identity" ? identityGroup(identityId) : ANY_GROUP;
    const candidates = [
      poolKey(true, group),
      poolKey(true, EMPTY_GROUP),
      poolKey(false, group),
      poolKey(false, EMPTY_GROUP),
    ];
    for (const key of candidates) {
      const slice = this.#pools.get(key)?.fullest();
      if (slice !== undefined) return slice;
    }
    return this.#newSlice();
  }

  #newSlice(): SliceState {
    let name = this.#namePrefix + this.#nameCounter.take();
    while (this.#slices.has(name)) name = this.#namePrefix + this.#nameCounter.take();
    const slice: SliceState = {
      name,
      metadata: { name },
      entries: new EntryList(),
      identityCounts: new Map(),
      bucket: undefined,
    };
    this.#slices.set(name, slice);
    this.#created.add(slice);
    return slice;
  }

  #insertEntry(slice: SliceState, podName: string, entry: CoreCiliumEndpoint): void {
    slice.entries.set(podName, ownedEntry(entry));
    this.#countIdentity(slice, entry.id, +1);
    this.#sliceOfPod.set(podName, slice);
    this.#touch(slice);
  }

  #removeEntry(slice: SliceState, podName: string): void {
    const old = slice.entries.get(podName) as StoredEntry;
    slice.entries.delete(podName);
    this.#countIdentity(slice, old.id, -1);
    this.#sliceOfPod.delete(podName);
    this.#touch(slice);
  }

  #touch(slice: SliceState): void {
    this.#touched.add(slice);
    this.#rebucket(slice);
  }

  #collectWrites(): CesWrites {
    const writes: CesWrites = { creates: [], updates: [], deletes: [] };
    for (const slice of this.#touched) {
      if (slice.entries.size === 0) {
        this.#unbucket(slice);
        this.#slices.delete(slice.name);
        // A slice created and emptied within one batch was never stored: nothing to delete.
        if (!this.#created.has(slice)) writes.deletes.push(this.#toObject(slice));
        continue;
      }
      writes[this.#created.has(slice) ? "creates" : "updates"].push(this.#toObject(slice));
    }
    const settled = [...this.#touched];
    this.#touched.clear();
    this.#created.clear();
    for (const slice of settled) if (this.#slices.has(slice.name)) this.#rebucket(slice);
    return writes;
  }

  /** Puts the slice in the pool matching its touched state, identity group and size (or none when full). */
  #rebucket(slice: SliceState): void {
    this.#unbucket(slice);
    const size = slice.entries.size;
    if (size >= this.settings.maxEndpointsPerCES) return;
    const group = this.#groupOf(slice);
    if (group === undefined) return;
    const key = poolKey(this.#touched.has(slice), group);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new SlicePool();
      this.#pools.set(key, pool);
    }
    pool.add(slice, size);
    slice.bucket = { poolKey: key, size };
  }

  #unbucket(slice: SliceState): void {
    if (slice.bucket === undefined) return;
    const pool = this.#pools.get(slice.bucket.poolKey);
    pool?.remove(slice, slice.bucket.size);
    if (pool?.empty) this.#pools.delete(slice.bucket.poolKey);
    slice.bucket = undefined;
  }

  /** undefined: the slice takes no newcomers (identity mode, mixed identities from an older packing). */
  #groupOf(slice: SliceState): string | undefined {
    if (slice.entries.size === 0) return EMPTY_GROUP;
    if (this.settings.batchingMode === "fcfs") return ANY_GROUP;
    if (slice.identityCounts.size !== 1) return undefined;
    return identityGroup(slice.identityCounts.keys().next().value as number);
  }

  #countIdentity(slice: SliceState, identityId: number, delta: number): void {
    const count = (slice.identityCounts.get(identityId) ?? 0) + delta;
    if (count === 0) slice.identityCounts.delete(identityId);
    else slice.identityCounts.set(identityId, count);
  }

  /**
   * Takes over a stored slice. A pod found in two slices (a crash between two writes) stays in the
   * first; the later slice is repaired, and an empty slice deleted, by the next reconcile.
   */
  #adoptExisting(object: CiliumEndpointSlice): void {
    const name = object.metadata?.name;
    if (typeof name !== "string" || name === "")
      throw new InvalidCesInputError("existing slice without metadata.name");
    if (object.namespace !== this.namespace) {
      throw new InvalidCesInputError(
        `existing slice ${name} belongs to namespace ${JSON.stringify(object.namespace)}, not ${JSON.stringify(this.namespace)}`,
      );
    }
    if (this.#slices.has(name)) throw new InvalidCesInputError(`existing slice ${name} given twice`);
    const slice: SliceState = {
      name,
      metadata: copyMetadata(object.metadata),
      entries: new EntryList(),
      identityCounts: new Map(),
      bucket: undefined,
    };
    this.#slices.set(name, slice);
    this.#reserveName(name);
    let needsRepair = false;
    for (const entry of Array.isArray(object.endpoints) ? object.endpoints : []) {
      if (!isWellFormedEntry(entry) || this.#sliceOfPod.has(entry.name)) {
        needsRepair = true;
        continue;
      }
      this.#insertEntry(slice, entry.name, entry);
    }
    this.#touched.delete(slice);
    if (needsRepair || slice.entries.size === 0) this.#touched.add(slice);
    this.#rebucket(slice);
  }

  /** New names must never collide with stored ones, across restarts too: continue after the highest. */
  #reserveName(name: string): void {
    if (!name.startsWith(this.#namePrefix)) return;
    const suffix = name.slice(this.#namePrefix.length);
    if (!/^[0-9]{1,15}$/.test(suffix)) return;
    this.#nameCounter.reserve(Number(suffix));
  }

  #toObject(slice: SliceState): CiliumEndpointSlice {
    return {
      apiVersion: "cilium.io/v2alpha1",
      kind: "CiliumEndpointSlice",
      metadata: copyMetadata(slice.metadata),
      namespace: this.namespace,
      endpoints: slice.entries.values().map(unpackEntry),
    };
  }
}

/**
 * After swapping one entry from identity `from` to `to`, does the slice still hold one identity?
 * Then the change stays in place (one write) instead of moving (two).
 */
function staysSingleIdentity(slice: SliceState, from: number, to: number): boolean {
  if (slice.identityCounts.get(from) !== 1) return false;
  return slice.identityCounts.size === 1 || (slice.identityCounts.size === 2 && slice.identityCounts.has(to));
}

function isWellFormedEntry(entry: unknown): entry is CoreCiliumEndpoint {
  if (typeof entry !== "object" || entry === null) return false;
  const candidate = entry as Partial<CoreCiliumEndpoint>;
  return (
    typeof candidate.name === "string" &&
    candidate.name !== "" &&
    Number.isInteger(candidate.id) &&
    Array.isArray(candidate.networking?.addressing)
  );
}

function identityGroup(identityId: number): string {
  return `id:${identityId}`;
}

function poolKey(touched: boolean, group: string): string {
  return `${touched ? "touched" : "settled"}|${group}`;
}

function copyMetadata(metadata: ObjectMeta): ObjectMeta {
  const copy: ObjectMeta = { ...metadata };
  if (metadata.labels !== undefined) copy.labels = { ...metadata.labels };
  if (metadata.ownerReferences !== undefined)
    copy.ownerReferences = metadata.ownerReferences.map((o) => ({ ...o }));
  return copy;
}
