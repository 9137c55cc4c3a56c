/**
 * Central security-identity allocation, as cilium-operator does it in CRD mode: one numeric id per
 * distinct label set, handed out by a single owner so two agents can never mint two ids for the
 * same labels (the "identity duplication" the 5k-node talk names as a trigger of the 65k limit).
 *
 * Pure and synchronous; persistence (DynamoDB) wraps it through snapshot()/fromSnapshot().
 */
import type { CiliumIdentity } from "#shared/core/model.ts";
import { ciliumIdentityObject } from "./cilium-identity.ts";
import { labelSetKey } from "./security-labels.ts";

/** Cilium's cluster-local identity range (below 256 are reserved identities such as host and world). */
export const MIN_CLUSTER_IDENTITY = 256;
export const MAX_CLUSTER_IDENTITY = 65535;
/** Same default as the slicing settings; cilium-operator's identity-gc-interval is also 15m. */
export const DEFAULT_IDENTITY_GC_GRACE_MS = 15 * 60 * 1000;

export interface IdentityAllocatorOptions {
  readonly minId?: number;
  readonly maxId?: number;
  /** How long an identity must have been unused before collectGarbage deletes it. */
  readonly gcGraceMs?: number;
}

export interface AllocatedIdentity {
  readonly id: number;
  /** The security labels ("k8s:key" -> value), keys sorted. */
  readonly labels: Readonly<Record<string, string>>;
  readonly labelSetKey: string;
  readonly refCount: number;
  /** When refCount last dropped to 0; undefined while in use. */
  readonly unusedSinceMs: number | undefined;
}

export interface AcquireResult {
  readonly id: number;
  /** A new identity was minted (a CiliumIdentity must be written). */
  readonly created: boolean;
}

export interface IdentitySnapshotEntry {
  id: number;
  labels: Record<string, string>;
  refCount: number;
  unusedSinceMs?: number;
}

/** Plain JSON state: enough to continue exactly where the allocator stopped. */
export interface IdentityAllocatorSnapshot {
  version: 1;
  minId: number;
  maxId: number;
  /** The next id to try; advancing it is what keeps a just-freed id from being reused at once. */
  cursor: number;
  identities: IdentitySnapshotEntry[];
}

export class IdentityExhaustedError extends Error {
  override name = "IdentityExhaustedError";
}

export class UnknownIdentityError extends Error {
  override name = "UnknownIdentityError";
}

/** More releases than acquires: a caller bug that would otherwise let an in-use identity be collected. */
export class IdentityOverReleaseError extends Error {
  override name = "IdentityOverReleaseError";
}

export class InvalidIdentityAllocatorConfigError extends Error {
  override name = "InvalidIdentityAllocatorConfigError";
}

export class InvalidIdentitySnapshotError extends Error {
  override name = "InvalidIdentitySnapshotError";
}

interface IdentityState {
  readonly id: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly labelSetKey: string;
  refCount: number;
  unusedSinceMs: number | undefined;
}

export class IdentityAllocator {
  readonly minId: number;
  readonly maxId: number;
  readonly gcGraceMs: number;
  #cursor: number;
  readonly #byId = new Map<number, IdentityState>();
  readonly #byKey = new Map<string, IdentityState>();
  /** Ids with refCount 0, so garbage collection looks only at candidates, not at every identity. */
  readonly #unused = new Set<number>();

  constructor(options: IdentityAllocatorOptions = {}) {
    this.minId = options.minId ?? MIN_CLUSTER_IDENTITY;
    this.maxId = options.maxId ?? MAX_CLUSTER_IDENTITY;
    this.gcGraceMs = options.gcGraceMs ?? DEFAULT_IDENTITY_GC_GRACE_MS;
    validateOptions(this.minId, this.maxId, this.gcGraceMs);
    this.#cursor = this.minId;
  }

  static fromSnapshot(
    snapshot: IdentityAllocatorSnapshot,
    options: IdentityAllocatorOptions = {},
  ): IdentityAllocator {
    if (typeof snapshot !== "object" || snapshot === null || snapshot.version !== 1) {
      throw new InvalidIdentitySnapshotError("snapshot must be an object with version 1");
    }
    const allocator = new IdentityAllocator({
      minId: options.minId ?? snapshot.minId,
      maxId: options.maxId ?? snapshot.maxId,
      gcGraceMs: options.gcGraceMs ?? DEFAULT_IDENTITY_GC_GRACE_MS,
    });
    if (!Array.isArray(snapshot.identities))
      throw new InvalidIdentitySnapshotError("identities must be an array");
    for (const entry of snapshot.identities) allocator.#restoreEntry(entry);
    const cursor = snapshot.cursor;
    allocator.#cursor =
      Number.isInteger(cursor) && cursor >= allocator.minId && cursor <= allocator.maxId
        ? cursor
        : allocator.minId;
    return allocator;
  }

  /** Number of identities that exist (in use or waiting out their grace period). */
  get size(): number {
    return this.#byId.size;
  }

  get capacity(): number {
    return this.maxId - this.minId + 1;
  }

  /**
   * Takes one reference on the identity of this label set, minting it if none exists. An identity
   * released but not yet collected is revived with its old id, so a pod restart within the grace
   * period does not churn identities (and every node's policy maps) for nothing.
   */
  acquire(labels: Readonly<Record<string, string>>, nowMs: number): AcquireResult {
    requireTime(nowMs);
    const key = labelSetKey(labels);
    const existing = this.#byKey.get(key);
    if (existing !== undefined) {
      if (existing.refCount === 0) {
        this.#unused.delete(existing.id);
        existing.unusedSinceMs = undefined;
      }
      existing.refCount += 1;
      return { id: existing.id, created: false };
    }
    const id = this.#takeFreeId();
    this.#insert({ id, labels: sortedCopy(labels), labelSetKey: key, refCount: 1, unusedSinceMs: undefined });
    return { id, created: true };
  }

  release(id: number, nowMs: number): void {
    requireTime(nowMs);
    const state = this.#byId.get(id);
    if (state === undefined) throw new UnknownIdentityError(`identity ${id} does not exist`);
    if (state.refCount === 0)
      throw new IdentityOverReleaseError(`identity ${id} released more often than acquired`);
    state.refCount -= 1;
    if (state.refCount === 0) {
      state.unusedSinceMs = nowMs;
      this.#unused.add(id);
    }
  }

  /** Deletes identities unused for at least the grace period; returns their ids, ascending. */
  collectGarbage(nowMs: number): number[] {
    requireTime(nowMs);
    const deleted: number[] = [];
    for (const id of this.#unused) {
      const state = this.#byId.get(id) as IdentityState;
      if (nowMs - (state.unusedSinceMs as number) < this.gcGraceMs) continue;
      this.#unused.delete(id);
      this.#byId.delete(id);
      this.#byKey.delete(state.labelSetKey);
      deleted.push(id);
    }
    return deleted.sort((a, b) => a - b);
  }

  get(id: number): AllocatedIdentity | undefined {
    const state = this.#byId.get(id);
    return state === undefined ? undefined : view(state);
  }

  idFor(labelSetKeyOfLabels: string): number | undefined {
    return this.#byKey.get(labelSetKeyOfLabels)?.id;
  }

  /** Every identity that exists, including unused ones not yet collected, in allocation order. */
  *identities(): IterableIterator<AllocatedIdentity> {
    for (const state of this.#byId.values()) yield view(state);
  }

  [Symbol.iterator](): IterableIterator<AllocatedIdentity> {
    return this.identities();
  }

  toCiliumIdentity(id: number): CiliumIdentity {
    const state = this.#byId.get(id);
    if (state === undefined) throw new UnknownIdentityError(`identity ${id} does not exist`);
    return ciliumIdentityObject(state.id, state.labels);
  }

  snapshot(): IdentityAllocatorSnapshot {
    const identities: IdentitySnapshotEntry[] = [];
    for (const state of [...this.#byId.values()].sort((a, b) => a.id - b.id)) {
      const entry: IdentitySnapshotEntry = {
        id: state.id,
        labels: { ...state.labels },
        refCount: state.refCount,
      };
      if (state.unusedSinceMs !== undefined) entry.unusedSinceMs = state.unusedSinceMs;
      identities.push(entry);
    }
    return { version: 1, minId: this.minId, maxId: this.maxId, cursor: this.#cursor, identities };
  }

  /**
   * Next free id at or after the cursor, wrapping around. The cursor then moves past it, so a
   * freed id comes back only after the whole range has been walked: nodes that still cache the old
   * id->labels mapping never see it meaning something else soon after.
   */
  #takeFreeId(): number {
    if (this.#byId.size >= this.capacity) {
      throw new IdentityExhaustedError(
        `all ${this.capacity} identities in ${this.minId}..${this.maxId} are allocated ` +
          `(${this.#unused.size} unused, awaiting garbage collection)`,
      );
    }
    let id = this.#cursor;
    while (this.#byId.has(id)) id = this.#after(id);
    this.#cursor = this.#after(id);
    return id;
  }

  #after(id: number): number {
    return id >= this.maxId ? this.minId : id + 1;
  }

  #insert(state: IdentityState): void {
    this.#byId.set(state.id, state);
    this.#byKey.set(state.labelSetKey, state);
    if (state.refCount === 0) this.#unused.add(state.id);
  }

  #restoreEntry(entry: IdentitySnapshotEntry): void {
    const where = `snapshot identity ${JSON.stringify(entry?.id)}`;
    if (typeof entry !== "object" || entry === null)
      throw new InvalidIdentitySnapshotError("identity entries must be objects");
    if (!Number.isInteger(entry.id) || entry.id < this.minId || entry.id > this.maxId) {
      throw new InvalidIdentitySnapshotError(`${where}: id outside ${this.minId}..${this.maxId}`);
    }
    if (!Number.isInteger(entry.refCount) || entry.refCount < 0) {
      throw new InvalidIdentitySnapshotError(`${where}: refCount must be a non-negative integer`);
    }
    if (!isStringMap(entry.labels))
      throw new InvalidIdentitySnapshotError(`${where}: labels must map strings to strings`);
    if (entry.refCount === 0 && !Number.isFinite(entry.unusedSinceMs)) {
      throw new InvalidIdentitySnapshotError(`${where}: an unused identity needs unusedSinceMs`);
    }
    const key = labelSetKey(entry.labels);
    if (this.#byId.has(entry.id)) throw new InvalidIdentitySnapshotError(`${where}: duplicate id`);
    if (this.#byKey.has(key))
      throw new InvalidIdentitySnapshotError(`${where}: label set already has another id`);
    this.#insert({
      id: entry.id,
      labels: sortedCopy(entry.labels),
      labelSetKey: key,
      refCount: entry.refCount,
      unusedSinceMs: entry.refCount === 0 ? entry.unusedSinceMs : undefined,
    });
  }
}

function validateOptions(minId: number, maxId: number, gcGraceMs: number): void {
  if (!Number.isInteger(minId) || !Number.isInteger(maxId) || minId < 1 || maxId < minId) {
    throw new InvalidIdentityAllocatorConfigError(
      `identity range must be integers with 1 <= minId <= maxId, got ${minId}..${maxId}`,
    );
  }
  if (!Number.isFinite(gcGraceMs) || gcGraceMs < 0) {
    throw new InvalidIdentityAllocatorConfigError(
      `gcGraceMs must be a non-negative number, got ${gcGraceMs}`,
    );
  }
}

function requireTime(nowMs: number): void {
  if (!Number.isFinite(nowMs))
    throw new InvalidIdentityAllocatorConfigError(`nowMs must be a finite number, got ${nowMs}`);
}

function sortedCopy(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) out[key] = labels[key] as string;
  return Object.freeze(out);
}

/** A copy: the state's counts go on changing after the caller has its view. */
function view(state: IdentityState): AllocatedIdentity {
  return { ...state };
}

function isStringMap(value: unknown): value is Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((v) => typeof v === "string");
}
