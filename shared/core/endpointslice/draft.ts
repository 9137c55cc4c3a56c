/**
 * A slice as it will be written, recorded as a change on top of the stored endpoints rather than a
 * copy of them: a sync typically rewrites a few endpoints in each of dozens of 100-endpoint slices,
 * and cloning every one of them was most of the cost of a reconcile.
 */
import type { AddressType, Endpoint, EndpointPort } from "#shared/core/model.ts";
import { endpointsEqual } from "./endpoint-identity.ts";
import type { OwnerReference, StoredSlice } from "./stored-slice.ts";

const NOTHING: ReadonlyMap<string, Endpoint> = new Map();

export class Draft {
  /** The stored slice this rewrites; undefined for a slice still to be created. */
  target: StoredSlice | undefined;
  readonly addressType: AddressType;
  readonly portKey: string;
  readonly ports: readonly EndpointPort[];
  readonly ownerReferences: readonly OwnerReference[];
  /** The stored endpoints this draft changes; never modified before the draft is applied. */
  readonly base: ReadonlyMap<string, Endpoint>;
  readonly #removed = new Set<string>();
  readonly #replaced = new Map<string, Endpoint>();
  readonly #added = new Map<string, Endpoint>();

  constructor(
    target: StoredSlice | undefined,
    group: {
      readonly addressType: AddressType;
      readonly portKey: string;
      readonly ports: readonly EndpointPort[];
    },
    ownerReferences: readonly OwnerReference[],
  ) {
    this.target = target;
    this.addressType = group.addressType;
    this.portKey = group.portKey;
    this.ports = group.ports;
    this.ownerReferences = ownerReferences;
    this.base = target?.endpoints ?? NOTHING;
  }

  static rewriting(slice: StoredSlice): Draft {
    return new Draft(slice, slice, slice.ownerReferences);
  }

  get size(): number {
    return this.base.size - this.#removed.size + this.#added.size;
  }

  has(key: string): boolean {
    return this.#added.has(key) || (this.base.has(key) && !this.#removed.has(key));
  }

  /** Replaces in place (keeping the endpoint's position, as the controller does) or appends. */
  set(key: string, endpoint: Endpoint): void {
    if (this.base.has(key)) {
      this.#removed.delete(key);
      this.#replaced.set(key, endpoint);
    } else this.#added.set(key, endpoint);
  }

  delete(key: string): void {
    if (this.#added.delete(key)) return;
    if (!this.base.has(key)) return;
    this.#removed.add(key);
    this.#replaced.delete(key);
  }

  clear(): void {
    this.#added.clear();
    this.#replaced.clear();
    for (const key of this.base.keys()) this.#removed.add(key);
  }

  /** Stored order with rewrites in place, then appended endpoints in the order they came. */
  *entries(): IterableIterator<[string, Endpoint]> {
    for (const [key, endpoint] of this.base) {
      if (this.#removed.has(key)) continue;
      yield [key, this.#replaced.get(key) ?? endpoint];
    }
    yield* this.#added;
  }

  /** True when writing this draft would store exactly the endpoints stored now. */
  endpointsUnchanged(): boolean {
    if (this.#removed.size > 0 || this.#added.size > 0) return false;
    for (const [key, endpoint] of this.#replaced) {
      const before = this.base.get(key);
      if (before === undefined || !endpointsEqual(before, endpoint)) return false;
    }
    return true;
  }

  /** Keys that leave and arrive, for updating indexes in proportion to the change. */
  removedKeys(): Iterable<string> {
    return this.#removed;
  }

  addedEntries(): Iterable<[string, Endpoint]> {
    return this.#added;
  }

  /** Applies the change to the stored map it was drawn from (in place: no copy of the slice). */
  applyToBase(): void {
    const base = this.base as Map<string, Endpoint>;
    for (const key of this.#removed) base.delete(key);
    for (const [key, endpoint] of this.#replaced) base.set(key, endpoint);
    for (const [key, endpoint] of this.#added) base.set(key, endpoint);
  }

  /** The endpoints as a new map, for a draft written to a slice it was not drawn from. */
  toMap(): Map<string, Endpoint> {
    return new Map(this.entries());
  }
}
