/**
 * A watcher's state (docs/contract.md §4), pure: the slices and identities it holds, and what a node agent
 * derives from them, kept up to date change by change:
 *   - the IPCache (cilium-agent): IP -> identity, its labels, node IP, namespace/pod, from CES entries;
 *   - Service backends (kube-proxy): namespace/service -> endpoints, from EndpointSlices.
 *
 * Memory. The objects must be kept (a patch applies to the exact version held), so the derived
 * views are not copies: each slice item is held once, flat (compact-items.ts), the IPCache maps an
 * IP straight to the CES entry object, and the backends of a Service are read through an index of
 * its slices. So the per-endpoint cost is one flat item per slice kind plus one IPCache map entry.
 *
 * Ordering. Whole objects apply when newer than what is held; a DELETED carries the object's last
 * version and applies when it is at least the held one, leaving a tombstone so a late older copy
 * cannot resurrect the object; a patch applies only on exactly its base version, a zone-view patch
 * only on a copy whose content digest is its base digest (change-bundle.ts).
 */
import type {
  CiliumEndpointSlice,
  CiliumIdentity,
  CoreCiliumEndpoint,
  Endpoint,
  EndpointPort,
  EndpointSlice,
} from "#shared/core/model.ts";
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import { OUTPUT_KINDS, type OutputKind, type OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange, SlicePatch } from "#shared/fanout/change-bundle.ts";
import type { ChangeMessage } from "#shared/fanout/change-routing.ts";
import { CiliumEntry } from "./compact-items.ts";
import { ciliumEntryKey, endpointEntryKey, patchItems, toEndpointEntry } from "./patch-items.ts";
import { StoredCiliumSlice, StoredEndpointSlice, type StoredIdentity } from "./stored-objects.ts";
import { Tombstones } from "./tombstones.ts";
import {
  backendText,
  identityLabelsText,
  ipcacheEntryText,
  pickClaim,
  portsText,
  snapshotDigest,
  type WatcherSnapshot,
} from "./watcher-snapshot.ts";

/** One held object: EndpointSlices by namespace and name, the cluster-scoped kinds by name. */
export interface CacheObjectRef {
  readonly kind: OutputKind;
  readonly namespace: string | undefined;
  readonly name: string;
}

interface ApplyBase {
  readonly ref: CacheObjectRef;
  readonly key: string;
  /** The change's sourceTimeMs, for latency. */
  readonly sourceTimeMs: number;
}

export type ApplyResult =
  | (ApplyBase & { readonly outcome: "applied" })
  | (ApplyBase & { readonly outcome: "duplicate" })
  | (ApplyBase & {
      readonly outcome: "gap";
      /**
       * missing base: a patch on a version not held; reference: the object must be read from the
       * API; unlisted: a whole copy, no newer than the last list, of an object that list lacked (see
       * apply): read it to tell a late copy of a deleted object from one the list missed.
       */
      readonly reason: "missing base" | "reference" | "unlisted";
    });

export interface IPCacheEntry {
  readonly ip: string;
  readonly identity: number;
  /** The identity's security labels; undefined while the watcher does not hold that identity. */
  readonly labels: Readonly<Record<string, string>> | undefined;
  /** The node's IP, as the CES entry gives it. */
  readonly nodeIP: string | undefined;
  readonly namespace: string;
  readonly pod: string;
}

export interface ServiceBackend {
  readonly addressType: string;
  readonly addresses: readonly string[];
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zone: string | undefined;
  readonly pod: string;
  readonly ports: readonly EndpointPort[];
}

export interface CacheCounts {
  readonly endpointSlices: number;
  readonly ciliumEndpointSlices: number;
  readonly identities: number;
  readonly endpoints: number;
  readonly ciliumEntries: number;
  readonly ipcacheEntries: number;
  readonly services: number;
  readonly tombstones: number;
}

/** A cache as plain JSON (exportState / restoreState). */
export interface WatcherCacheState {
  readonly objects: ReadonlyArray<{ readonly version: string; readonly object: OutputObject }>;
  readonly listedAt: Readonly<Partial<Record<OutputKind, string>>>;
  /** [cache key, the version at which the object was seen deleted]. */
  readonly tombstones: ReadonlyArray<readonly [string, string]>;
}

export function refOf(kind: OutputKind, namespace: string | undefined, name: string): CacheObjectRef {
  return { kind, namespace: kind === "EndpointSlice" ? namespace : undefined, name };
}

export function refOfObject(object: OutputObject): CacheObjectRef {
  return refOf(object.kind, object.metadata.namespace, object.metadata.name);
}

export function cacheKey(ref: CacheObjectRef): string {
  return ref.namespace === undefined ? `${ref.kind}/${ref.name}` : `${ref.kind}/${ref.namespace}/${ref.name}`;
}

/** A single change message is a bundled change that carries its whole object. */
export function bundledFromMessage(message: ChangeMessage): BundledChange {
  const { metadata } = message.object;
  return {
    type: message.type,
    kind: message.kind,
    ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
    name: metadata.name,
    resourceVersion: message.resourceVersion,
    sourceTimeMs: message.sourceTimeMs,
    ...(message.zone === undefined ? {} : { zone: message.zone }),
    object: message.object,
  };
}

type Claim = CiliumEntry | CiliumEntry[];

export class WatcherCache {
  readonly #endpointSlices = new Map<string, StoredEndpointSlice>();
  readonly #ciliumSlices = new Map<string, StoredCiliumSlice>();
  readonly #identities = new Map<string, StoredIdentity>();
  readonly #identitiesById = new Map<number, StoredIdentity>();
  /** key -> the version at which the object was seen deleted. */
  readonly #tombstones = new Tombstones();
  /** Per kind, the resourceVersion of the newest list (see apply). */
  readonly #listedAt = new Map<OutputKind, string>();
  /** namespace/service -> its slices: the backends index. */
  readonly #serviceSlices = new Map<string, Set<StoredEndpointSlice>>();
  /** IP -> the CES entry (or, while an IP is handed over, entries) claiming it. */
  readonly #ipcache = new Map<string, Claim>();
  #endpoints = 0;
  #ciliumEntries = 0;

  /**
   * A bundled change (or a single change message turned into one by bundledFromMessage).
   * `fromRead`: the change is the object as just read from the API, which is the truth to apply.
   *
   * After a list, a whole copy of an object neither held nor tombstoned, no newer than that list,
   * is not applied but answered `unlisted`: it is either a late copy of an object deleted before the
   * list (an agent that re-listed after a restart has no tombstone to stop it, and applying it would
   * resurrect the object for good) or a write the list's pages did not see; only a read tells which.
   */
  apply(change: BundledChange, options: { readonly fromRead?: boolean } = {}): ApplyResult {
    const ref = refOf(change.kind, change.namespace, change.name);
    const key = cacheKey(ref);
    const base: ApplyBase = { ref, key, sourceTimeMs: change.sourceTimeMs };
    const result = (outcome: "applied" | "duplicate"): ApplyResult => ({ ...base, outcome });
    const current = this.#currentVersion(ref, key);
    const held = current ?? this.#tombstones.get(key);
    const version = change.resourceVersion;
    if (change.type === "DELETED") {
      if (held !== undefined && compareResourceVersions(held, version) > 0) return result("duplicate");
      this.#tombstones.set(key, version);
      if (current === undefined) return result("duplicate");
      this.#remove(ref, key);
      return result("applied");
    }
    if (held !== undefined && compareResourceVersions(held, version) >= 0) return result("duplicate");
    if (change.object !== undefined) {
      const listedAt = this.#listedAt.get(ref.kind);
      if (
        held === undefined &&
        options.fromRead !== true &&
        listedAt !== undefined &&
        compareResourceVersions(version, listedAt) <= 0
      )
        return { ...base, outcome: "gap", reason: "unlisted" };
      this.#store(ref, key, change.object, version);
      return result("applied");
    }
    if (change.patch !== undefined && ref.kind !== "CiliumIdentity") {
      if (current === undefined || !this.#holdsBase(key, current, change))
        return { ...base, outcome: "gap", reason: "missing base" };
      this.#patch(ref, key, change.patch, version);
      return result("applied");
    }
    return { ...base, outcome: "gap", reason: "reference" };
  }

  applyMessage(message: ChangeMessage): ApplyResult {
    return this.apply(bundledFromMessage(message));
  }

  /**
   * The initial list or a re-list of one kind. What is held and newer than the listed copy stays
   * (a change applied while the list was read); a held object the list lacks goes, unless it is
   * newer than the list (created after the list read its part).
   */
  replaceFromList(kind: OutputKind, objects: readonly OutputObject[], listResourceVersion: string): void {
    const listedAt = this.#listedAt.get(kind);
    if (listedAt === undefined || compareResourceVersions(listResourceVersion, listedAt) > 0)
      this.#listedAt.set(kind, listResourceVersion);
    const listed = new Map<string, OutputObject>();
    for (const object of objects) {
      if (object.kind !== kind) throw new TypeError(`a ${object.kind} in a list of ${kind}`);
      listed.set(cacheKey(refOfObject(object)), object);
    }
    for (const [key, ref, version] of this.#heldOf(kind)) {
      if (listed.has(key) || compareResourceVersions(version, listResourceVersion) > 0) continue;
      this.#remove(ref, key);
      this.#tombstones.set(key, version);
    }
    for (const [key, object] of listed) {
      const ref = refOfObject(object);
      const version = object.metadata.resourceVersion ?? "0";
      const held = this.#currentVersion(ref, key) ?? this.#tombstones.get(key);
      if (held !== undefined && compareResourceVersions(held, version) >= 0) continue;
      this.#store(ref, key, object, version);
    }
  }

  /** The object is gone (a re-read answered 404): remove it, remembering `atVersion`. */
  removeObject(ref: CacheObjectRef, atVersion: string): boolean {
    const key = cacheKey(ref);
    const tombstone = this.#tombstones.get(key);
    if (tombstone === undefined || compareResourceVersions(atVersion, tombstone) > 0)
      this.#tombstones.set(key, atVersion);
    if (this.#currentVersion(ref, key) === undefined) return false;
    this.#remove(ref, key);
    return true;
  }

  /** The version held for the object, or undefined (tombstones do not count). */
  resourceVersionOf(ref: CacheObjectRef): string | undefined {
    return this.#currentVersion(ref, cacheKey(ref));
  }

  /** A fresh copy of the held object, in the Kubernetes shape. */
  get(ref: CacheObjectRef): OutputObject | undefined {
    const key = cacheKey(ref);
    if (ref.kind === "EndpointSlice") return this.#endpointSlices.get(key)?.toObject();
    if (ref.kind === "CiliumEndpointSlice") return this.#ciliumSlices.get(key)?.toObject();
    return this.#identities.get(key)?.object;
  }

  objects(kind: OutputKind): OutputObject[] {
    if (kind === "EndpointSlice") return [...this.#endpointSlices.values()].map((s) => s.toObject());
    if (kind === "CiliumEndpointSlice") return [...this.#ciliumSlices.values()].map((s) => s.toObject());
    return [...this.#identities.values()].map((i) => i.object);
  }

  lookupIP(ip: string): IPCacheEntry | undefined {
    const claim = this.#ipcache.get(ip);
    if (claim === undefined) return undefined;
    const entry = Array.isArray(claim) ? this.#winner(claim) : claim;
    return {
      ip,
      identity: entry.id,
      labels: this.#identitiesById.get(entry.id)?.object["security-labels"],
      nodeIP: entry.node,
      namespace: entry.namespace,
      pod: entry.name,
    };
  }

  backends(namespace: string, service: string): ServiceBackend[] {
    const slices = this.#serviceSlices.get(`${namespace}/${service}`) ?? new Set();
    return [...slices].flatMap((slice) =>
      slice.endpoints.map((entry) => ({
        addressType: slice.addressType,
        addresses: entry.addressList(),
        ready: entry.ready,
        serving: entry.serving,
        terminating: entry.terminating,
        nodeName: entry.node,
        zone: entry.zone,
        pod: entry.pod,
        ports: slice.ports,
      })),
    );
  }

  /** Every IPCache entry (the claim that wins where several entries claim an IP). */
  ipcacheEntries(): IPCacheEntry[] {
    return [...this.#ipcache.keys()].map((ip) => this.lookupIP(ip) as IPCacheEntry);
  }

  /** The Services with backends held, as [namespace, service]. */
  services(): Array<[string, string]> {
    return [...this.#serviceSlices.keys()].map((key) => {
      const slash = key.indexOf("/");
      return [key.slice(0, slash), key.slice(slash + 1)];
    });
  }

  /** The IPCache and backends in canonical form, read from the incremental structures. */
  snapshot(): WatcherSnapshot {
    const ipcache: string[] = [];
    for (const [ip, claim] of this.#ipcache) {
      const texts = Array.isArray(claim) ? claim.map((e) => this.#entryText(e)) : [this.#entryText(claim)];
      ipcache.push(`${ip} ${pickClaim(texts)}`);
    }
    const backends: string[] = [];
    for (const [service, slices] of this.#serviceSlices) {
      for (const slice of slices) {
        const ports = portsText(slice.ports);
        for (const entry of slice.endpoints) {
          for (const address of entry.addressList()) {
            const text = backendText(
              slice.addressType,
              address,
              entry.ready,
              entry.serving,
              entry.terminating,
              entry.node,
              entry.zone,
              entry.podNamespace,
              entry.pod,
              ports,
            );
            backends.push(`${service} ${text}`);
          }
        }
      }
    }
    return { ipcache: ipcache.sort(), backends: backends.sort() };
  }

  digest(): string {
    return snapshotDigest(this.snapshot());
  }

  counts(): CacheCounts {
    return {
      endpointSlices: this.#endpointSlices.size,
      ciliumEndpointSlices: this.#ciliumSlices.size,
      identities: this.#identities.size,
      endpoints: this.#endpoints,
      ciliumEntries: this.#ciliumEntries,
      ipcacheEntries: this.#ipcache.size,
      services: this.#serviceSlices.size,
      tombstones: this.#tombstones.size,
    };
  }

  /**
   * Forgets tombstones older than the previous call (see tombstones.ts); the agent calls it once per
   * retention period. Returns how many were dropped.
   */
  rotateTombstones(): number {
    return this.#tombstones.rotate();
  }

  /**
   * Everything the cache holds, as plain JSON: each object at the version held (a patch applies only
   * on that version), the newest list version per kind and the tombstones. `restoreState` rebuilds
   * an equal cache from it, so an agent restarted from disk resumes instead of re-listing.
   */
  exportState(): WatcherCacheState {
    return {
      objects: OUTPUT_KINDS.flatMap((kind) =>
        [...this.#heldOf(kind)].map(([, ref, version]) => ({
          version,
          object: this.get(ref) as OutputObject,
        })),
      ),
      listedAt: Object.fromEntries(this.#listedAt),
      tombstones: this.#tombstones.entries(),
    };
  }

  /** Replaces what is held by a state exportState wrote. */
  restoreState(state: WatcherCacheState): void {
    this.clear();
    for (const { version, object } of state.objects) {
      const ref = refOfObject(object);
      this.#store(ref, cacheKey(ref), object, version);
    }
    for (const [kind, version] of Object.entries(state.listedAt))
      this.#listedAt.set(kind as OutputKind, version);
    // Oldest generation first, so the newer one wins where both name a key.
    for (const [key, version] of [...state.tombstones].reverse()) this.#tombstones.set(key, version);
  }

  clear(): void {
    this.#endpointSlices.clear();
    this.#ciliumSlices.clear();
    this.#identities.clear();
    this.#identitiesById.clear();
    this.#tombstones.clear();
    this.#listedAt.clear();
    this.#serviceSlices.clear();
    this.#ipcache.clear();
    this.#endpoints = 0;
    this.#ciliumEntries = 0;
  }

  /** A zone-view patch applies on content equal to its base, any other on exactly its base version. */
  #holdsBase(key: string, current: string, change: BundledChange): boolean {
    const { baseViewSum, baseDigest } = change;
    if (baseViewSum === undefined && baseDigest === undefined) {
      const patchBase = change.previousResourceVersion;
      return patchBase !== undefined && compareResourceVersions(current, patchBase) === 0;
    }
    const slice = this.#endpointSlices.get(key);
    if (slice === undefined) return false;
    // baseDigest alone: a fan-out from before baseViewSum, during an upgrade.
    return baseViewSum !== undefined
      ? slice.zoneViewSum() === baseViewSum
      : slice.zoneViewDigest() === baseDigest;
  }

  #currentVersion(ref: CacheObjectRef, key: string): string | undefined {
    if (ref.kind === "EndpointSlice") return this.#endpointSlices.get(key)?.resourceVersion;
    if (ref.kind === "CiliumEndpointSlice") return this.#ciliumSlices.get(key)?.resourceVersion;
    return this.#identities.get(key)?.resourceVersion;
  }

  *#heldOf(kind: OutputKind): Generator<[string, CacheObjectRef, string]> {
    const held =
      kind === "EndpointSlice"
        ? this.#endpointSlices
        : kind === "CiliumEndpointSlice"
          ? this.#ciliumSlices
          : this.#identities;
    for (const [key, stored] of [...held]) {
      const namespace = stored instanceof StoredEndpointSlice ? stored.namespace : undefined;
      const name = "object" in stored ? stored.object.metadata.name : stored.name;
      yield [key, refOf(kind, namespace, name), stored.resourceVersion];
    }
  }

  #store(ref: CacheObjectRef, key: string, object: OutputObject, version: string): void {
    this.#tombstones.delete(key);
    if (ref.kind === "EndpointSlice") {
      const slice = object as EndpointSlice;
      this.#putEndpointSlice(
        key,
        new StoredEndpointSlice(slice, version, slice.endpoints.map(toEndpointEntry)),
      );
    } else if (ref.kind === "CiliumEndpointSlice") {
      const slice = object as CiliumEndpointSlice;
      const entries = slice.endpoints.map((e) => new CiliumEntry(e, slice.namespace));
      this.#putCiliumSlice(key, new StoredCiliumSlice(slice, version, entries));
    } else {
      const identity = object as CiliumIdentity;
      const previous = this.#identities.get(key);
      if (previous !== undefined) this.#identitiesById.delete(previous.id);
      const stored: StoredIdentity = {
        resourceVersion: version,
        id: Number(identity.metadata.name),
        object: identity,
      };
      this.#identities.set(key, stored);
      this.#identitiesById.set(stored.id, stored);
    }
  }

  /** In place: the slice object stays the one the service index and the IPCache know. */
  #patch(ref: CacheObjectRef, key: string, patch: SlicePatch, version: string): void {
    if (ref.kind === "EndpointSlice") {
      const current = this.#endpointSlices.get(key) as StoredEndpointSlice;
      const upserts = (patch.upsert as Endpoint[]).map(toEndpointEntry);
      const { items, displaced } = patchItems(current.endpoints, endpointEntryKey, patch.remove, upserts);
      this.#endpoints += items.length - current.endpoints.length;
      current.replaceEndpoints(items, displaced, upserts);
      current.resourceVersion = version;
    } else {
      const current = this.#ciliumSlices.get(key) as StoredCiliumSlice;
      const upserts = (patch.upsert as CoreCiliumEndpoint[]).map(
        (e) => new CiliumEntry(e, current.namespace),
      );
      const { items, displaced } = patchItems(current.entries, ciliumEntryKey, patch.remove, upserts);
      for (const entry of upserts) this.#claim(entry);
      for (const entry of displaced) this.#unclaim(entry);
      this.#ciliumEntries += items.length - current.entries.length;
      current.entries = items;
      current.resourceVersion = version;
    }
  }

  #remove(ref: CacheObjectRef, key: string): void {
    if (ref.kind === "EndpointSlice") this.#putEndpointSlice(key, undefined);
    else if (ref.kind === "CiliumEndpointSlice") this.#putCiliumSlice(key, undefined);
    else {
      const previous = this.#identities.get(key);
      if (previous !== undefined) this.#identitiesById.delete(previous.id);
      this.#identities.delete(key);
    }
  }

  #putEndpointSlice(key: string, next: StoredEndpointSlice | undefined): void {
    const previous = this.#endpointSlices.get(key);
    if (previous !== undefined) {
      this.#endpoints -= previous.endpoints.length;
      const slices = this.#serviceSlices.get(previous.service);
      slices?.delete(previous);
      if (slices?.size === 0) this.#serviceSlices.delete(previous.service);
    }
    if (next === undefined) {
      this.#endpointSlices.delete(key);
      return;
    }
    this.#endpointSlices.set(key, next);
    this.#endpoints += next.endpoints.length;
    const slices = this.#serviceSlices.get(next.service);
    if (slices === undefined) this.#serviceSlices.set(next.service, new Set([next]));
    else slices.add(next);
  }

  #putCiliumSlice(key: string, next: StoredCiliumSlice | undefined): void {
    const previous = this.#ciliumSlices.get(key);
    const before = previous?.entries ?? [];
    const after = next?.entries ?? [];
    const kept = new Set<CiliumEntry>(after);
    for (const entry of before) if (!kept.has(entry)) this.#unclaim(entry);
    const had = new Set<CiliumEntry>(before);
    for (const entry of after) if (!had.has(entry)) this.#claim(entry);
    this.#ciliumEntries += after.length - before.length;
    if (next === undefined) this.#ciliumSlices.delete(key);
    else this.#ciliumSlices.set(key, next);
  }

  #claim(entry: CiliumEntry): void {
    for (const ip of entry.ips()) {
      const claim = this.#ipcache.get(ip);
      if (claim === undefined) this.#ipcache.set(ip, entry);
      else if (Array.isArray(claim)) claim.push(entry);
      else this.#ipcache.set(ip, [claim, entry]);
    }
  }

  #unclaim(entry: CiliumEntry): void {
    for (const ip of entry.ips()) {
      const claim = this.#ipcache.get(ip);
      if (claim === entry) this.#ipcache.delete(ip);
      else if (Array.isArray(claim)) {
        const rest = claim.filter((other) => other !== entry);
        this.#ipcache.set(ip, rest.length === 1 ? (rest[0] as CiliumEntry) : rest);
      }
    }
  }

  #entryText(entry: CiliumEntry): string {
    const labels = identityLabelsText(this.#identitiesById.get(entry.id)?.object["security-labels"]);
    return ipcacheEntryText(entry.id, labels, entry.node, entry.namespace, entry.name, entry.namedPorts);
  }

  #winner(entries: readonly CiliumEntry[]): CiliumEntry {
    let best = entries[0] as CiliumEntry;
    let bestText = this.#entryText(best);
    for (const entry of entries) {
      const text = this.#entryText(entry);
      if (text < bestText) [best, bestText] = [entry, text];
    }
    return best;
  }
}
