/**
 * Deltas between two versions of a stored object, and their application on a watcher's copy: the
 * two halves of the coalesced delivery format (change-bundle.ts).
 *
 * Item order. The core does not sort slice items: an EndpointSlice keeps its stored order with
 * rewrites in place and new endpoints appended (endpointslice/draft.ts), a CES keeps insertion order
 * (ciliumendpointslice/namespace-slices.ts). So a patch does not sort either; it replays that rule:
 * apply drops `remove`, replaces an upserted item whose key is still there in place, and appends
 * the others in `upsert` order. The producer picks remove/upsert so that the replay yields the
 * after-image's exact order (an item that moved is removed and upserted, so it lands at the end),
 * and apply(before, delta) deep-equals after, order included, for any pair of versions.
 */
import { isDeepStrictEqual } from "node:util";
import type { CiliumEndpointSlice, CoreCiliumEndpoint, Endpoint, EndpointSlice } from "#shared/core/model.ts";
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange, SlicePatch } from "./change-bundle.ts";
import { type ObjectChange, type RoutedMessage, routeChange } from "./change-routing.ts";
import { zoneViewBases, zoneViewDigest, zoneViewSum } from "./zone-view-sum.ts";

type SliceItem = Endpoint | CoreCiliumEndpoint;

/** An EndpointSlice endpoint's patch key: the pod's uid (one endpoint per pod in a slice). */
export function endpointItemKey(endpoint: Endpoint): string {
  return endpoint.targetRef.uid;
}

/** A CES entry's patch key: the CiliumEndpoint's name (the pod's name, unique in its namespace). */
export function ciliumEndpointItemKey(endpoint: CoreCiliumEndpoint): string {
  return endpoint.name;
}

/** The key function of a patchable object's items; undefined for kinds that always travel whole. */
export function itemKeyOf(object: OutputObject): ((item: SliceItem) => string) | undefined {
  if (object.kind === "EndpointSlice") return (item) => endpointItemKey(item as Endpoint);
  if (object.kind === "CiliumEndpointSlice")
    return (item) => ciliumEndpointItemKey(item as CoreCiliumEndpoint);
  return undefined;
}

export interface ScopedChange {
  readonly scope: string;
  readonly change: BundledChange;
}

/** Every scope's bundled form of one stored change (routeChange decides the scopes and zone views). */
export function bundledChangesOf(change: ObjectChange, zones: readonly string[]): ScopedChange[] {
  return routeChange(change, zones).map((routed) => ({
    scope: routed.scope,
    change: bundledChangeOf(routed, change),
  }));
}

/**
 * One routed message as a bundled change: deletions as versions only, item-only modifications as a
 * patch (a full slice's against the before version, a zone view's against the before zone view's
 * content digest), everything else whole.
 */
export function bundledChangeOf(routed: RoutedMessage, change: ObjectChange): BundledChange {
  const { message } = routed;
  const namespace = message.object.metadata.namespace;
  const previousResourceVersion = change.before?.metadata.resourceVersion;
  const base: BundledChange = {
    type: message.type,
    kind: message.kind,
    ...(namespace === undefined ? {} : { namespace }),
    name: message.object.metadata.name,
    resourceVersion: message.resourceVersion,
    ...(message.type === "ADDED" || previousResourceVersion === undefined ? {} : { previousResourceVersion }),
    sourceTimeMs: message.sourceTimeMs,
    ...(message.zone === undefined ? {} : { zone: message.zone }),
  };
  if (message.type === "DELETED") return base;
  if (message.type === "MODIFIED" && message.zone === undefined && change.before !== undefined) {
    const patch = itemPatch(change.before, message.object);
    if (patch !== undefined) return { ...base, patch };
  }
  if (message.type === "MODIFIED" && message.zone !== undefined && change.before?.kind === "EndpointSlice") {
    const before = zoneCut(change.before, message.zone);
    const patch = itemPatch(before, message.object);
    // baseDigest too, for agents from before baseViewSum (they re-read every zone patch without it).
    if (patch !== undefined) return { ...base, patch, ...zoneViewBases(before) };
  }
  return { ...base, object: message.object };
}

/** What a zone watcher holds of a slice: its zone's endpoints, in the slice's order. */
function zoneCut(slice: EndpointSlice, zone: string): EndpointSlice {
  return { ...slice, endpoints: slice.endpoints.filter((endpoint) => endpoint.zone === zone) };
}

/** The patch that turns `before` into `after`, or undefined when anything besides the items differs. */
export function itemPatch(before: OutputObject, after: OutputObject): SlicePatch | undefined {
  const keyOf = itemKeyOf(after);
  if (keyOf === undefined || before.kind !== after.kind) return undefined;
  if (!isDeepStrictEqual(withoutItemsAndVersion(before), withoutItemsAndVersion(after))) return undefined;
  const beforeItems = itemsOf(before);
  const afterItems = itemsOf(after);
  const beforeByKey = byKey(beforeItems, keyOf);
  const afterByKey = byKey(afterItems, keyOf);
  if (beforeByKey === undefined || afterByKey === undefined) return undefined;

  // The longest prefix of `after` that is made of surviving items in their old relative order
  // stays where it is; everything after it is appended, so a survivor there is moved (removed, then
  // upserted) — which reproduces the core's "rewrite in place, append new" order exactly.
  let inPlace = 0;
  let lastIndex = -1;
  const beforeIndex = new Map(beforeItems.map((item, index) => [keyOf(item), index]));
  for (const item of afterItems) {
    const index = beforeIndex.get(keyOf(item));
    if (index === undefined || index < lastIndex) break;
    lastIndex = index;
    inPlace++;
  }
  const staying = new Set(afterItems.slice(0, inPlace).map(keyOf));
  const remove = beforeItems.map(keyOf).filter((key) => !staying.has(key));
  const upsert: SliceItem[] = [];
  for (const [index, item] of afterItems.entries()) {
    if (index >= inPlace || !isDeepStrictEqual(beforeByKey.get(keyOf(item)), item)) upsert.push(item);
  }
  return { upsert, remove };
}

export type ApplyResult =
  /** `object` is the watcher's new copy; undefined: the object is gone. */
  | { readonly outcome: "applied"; readonly object: OutputObject | undefined }
  /** The watcher already holds this version or a newer one (or its tombstone says it is gone). */
  | { readonly outcome: "duplicate" }
  /** The change cannot be applied to what the watcher holds: re-read the object from the API. */
  | { readonly outcome: "gap"; readonly reason: "missing base" | "reference" };

export interface ApplyOptions {
  /**
   * When nothing is held: the version at which the watcher saw the object deleted (a DELETED it
   * applied). Without it, a late ADDED or whole MODIFIED delivered after the DELETED brings the
   * object back; with it, that is a duplicate.
   */
  readonly deletedAt?: string;
}

/**
 * A bundled change on top of the watcher's copy. Never throws for ordering: at-least-once, unordered
 * delivery shows up as duplicate or gap. The result shares unchanged items with `current`.
 */
export function applyBundledChange(
  current: OutputObject | undefined,
  change: BundledChange,
  options: ApplyOptions = {},
): ApplyResult {
  const held = current?.metadata.resourceVersion ?? (current === undefined ? options.deletedAt : "0");
  if (change.type === "DELETED") {
    // A delete carries the last version of the object: it removes that version and older ones.
    // Applied even when nothing is held, so the watcher keeps the tombstone that stops a late
    // ADDED of that version from resurrecting the object; a duplicate only against that tombstone.
    if (held === undefined) return { outcome: "applied", object: undefined };
    const order = compareResourceVersions(held, change.resourceVersion);
    if (order > 0 || (order === 0 && current === undefined)) return { outcome: "duplicate" };
    return { outcome: "applied", object: undefined };
  }
  if (held !== undefined && compareResourceVersions(held, change.resourceVersion) >= 0)
    return { outcome: "duplicate" };
  if (change.object !== undefined) return { outcome: "applied", object: change.object };
  if (change.patch !== undefined) {
    if (current === undefined || held === undefined || !holdsBase(current, held, change))
      return { outcome: "gap", reason: "missing base" };
    return { outcome: "applied", object: patched(current, change.patch, change.resourceVersion) };
  }
  return { outcome: "gap", reason: "reference" };
}

/** A zone-view patch applies on content equal to its base, any other on exactly its base version. */
function holdsBase(current: OutputObject, held: string, change: BundledChange): boolean {
  if (change.baseViewSum !== undefined)
    return current.kind === "EndpointSlice" && zoneViewSum(current) === change.baseViewSum;
  if (change.baseDigest !== undefined)
    return current.kind === "EndpointSlice" && zoneViewDigest(current) === change.baseDigest;
  const base = change.previousResourceVersion;
  return base !== undefined && compareResourceVersions(held, base) === 0;
}

function patched(current: OutputObject, patch: SlicePatch, resourceVersion: string): OutputObject {
  const keyOf = itemKeyOf(current);
  if (keyOf === undefined) throw new TypeError(`a ${current.kind} has no items to patch`);
  const removed = new Set(patch.remove);
  const items = itemsOf(current).filter((item) => !removed.has(keyOf(item)));
  const position = new Map(items.map((item, index) => [keyOf(item), index]));
  for (const item of patch.upsert) {
    const key = keyOf(item);
    const index = position.get(key);
    if (index === undefined) {
      position.set(key, items.length);
      items.push(item);
    } else items[index] = item;
  }
  if (current.kind === "EndpointSlice")
    return { ...current, metadata: { ...current.metadata, resourceVersion }, endpoints: items as Endpoint[] };
  const slice = current as CiliumEndpointSlice;
  return {
    ...slice,
    metadata: { ...slice.metadata, resourceVersion },
    endpoints: items as CoreCiliumEndpoint[],
  };
}

function itemsOf(object: OutputObject): SliceItem[] {
  return object.kind === "CiliumIdentity"
    ? []
    : [...(object as EndpointSlice | CiliumEndpointSlice).endpoints];
}

/** Items by key; undefined when two share a key (no patch can name them apart). */
function byKey(
  items: readonly SliceItem[],
  keyOf: (item: SliceItem) => string,
): Map<string, SliceItem> | undefined {
  const map = new Map<string, SliceItem>();
  for (const item of items) {
    const key = keyOf(item);
    if (map.has(key)) return undefined;
    map.set(key, item);
  }
  return map;
}

function withoutItemsAndVersion(object: OutputObject): unknown {
  const { resourceVersion: _version, ...metadata } = object.metadata;
  return { ...object, metadata, endpoints: undefined };
}
