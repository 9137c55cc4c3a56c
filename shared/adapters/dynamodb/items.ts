/**
 * Item layouts of the DynamoDB adapter (documented in shared/config/table-schemas.ts, the single
 * source): keys, and the conversion of core records and output objects to items and back.
 */
import { createHash } from "node:crypto";
import { TABLE_KEYS } from "#shared/config/resources.ts";
import { INDEX_NAMES } from "#shared/config/table-schemas.ts";
import { sortedLabels } from "#shared/core/labels.ts";
import type { NamespaceRecord, NodeRecord, PodRecord, ServiceRecord } from "#shared/core/model.ts";
import type { Versioned } from "#shared/core/object-versions.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { indexedAddresses } from "#shared/core/pod-addresses.ts";
import type { ChangeLogEntry } from "#shared/fanout/change-log.ts";
import {
  COMPRESSED_OBJECT_ATTRIBUTE,
  compressedObject,
  compressObjectJson,
  storedObjectJson,
} from "#shared/fanout/stored-object.ts";

export type Item = Record<string, unknown>;
export type Key = { readonly pk: string; readonly sk: string };

/** Table names, resolved once by whoever builds the store. */
export interface DynamoTables {
  readonly state: string;
  readonly slices: string;
  readonly identities: string;
}
export type TableRef = keyof DynamoTables;

// ----------------------------------------------------------------------------------------------
// State table
// ----------------------------------------------------------------------------------------------

export const GROUP_PREFIX = "group#";
export const NODE_PREFIX = "node#";
export const META_SK = "#meta";
export const NODE_SK = "#node";
export const POD_PREFIX = "pod#";
export const SERVICE_PREFIX = "svc#";
/** Pending multi-transaction commits, one item per namespace (see group-commit.ts). */
export const PENDING_PK = "#pending";

export const groupPk = (namespace: string): string => GROUP_PREFIX + namespace;
export const metaKey = (namespace: string): Key => ({ pk: groupPk(namespace), sk: META_SK });
export const podKeyOf = (namespace: string, name: string): Key => ({
  pk: groupPk(namespace),
  sk: POD_PREFIX + name,
});
export const serviceKeyOf = (namespace: string, name: string): Key => ({
  pk: groupPk(namespace),
  sk: SERVICE_PREFIX + name,
});
export const nodeKey = (name: string): Key => ({ pk: NODE_PREFIX + name, sk: NODE_SK });
export const pendingKey = (namespace: string): Key => ({ pk: PENDING_PK, sk: namespace });
/**
 * The zone epoch: one counter (attribute ZONE_EPOCH_ATTRIBUTE) that every Node commit changing
 * what a zone read answers (a node created, deleted, or its zone changed) increments in the same
 * transaction. A group commit that read zones checks it is unchanged since before that read: one
 * condition check per commit instead of one per node read (cluster-store.ts).
 */
export const ZONE_EPOCH_KEY: Key = { pk: "zoneEpoch", sk: "#epoch" };
export const ZONE_EPOCH_ATTRIBUTE = "epoch";
export const intentPk = (namespace: string, commitId: string): string => `intent#${namespace}#${commitId}`;
export const intentChunkKey = (namespace: string, commitId: string, chunk: number): Key => ({
  pk: intentPk(namespace, commitId),
  sk: `chunk#${String(chunk).padStart(6, "0")}`,
});
/** The pipeline's counters of one minute (whole minutes since the epoch: pipeline-counts.ts). */
export const pipelineCountsKey = (minute: number): Key => ({ pk: `stats#${minute}`, sk: "#counts" });
/** How long a minute's counters outlive it: /v1/stats reads the last six minutes. */
export const PIPELINE_COUNTS_RETENTION_SECONDS = 3_600;

/** What meta.pending holds while a commit spanning several transactions is being applied. */
export interface PendingCommit {
  readonly commitId: string;
  /** Number of intent chunk items. */
  readonly chunks: number;
  /** The group version this commit created. */
  readonly version: number;
  readonly sinceMs: number;
}

export interface MetaItem {
  readonly version: number;
  readonly namespace?: Versioned<NamespaceRecord>;
  readonly pending?: PendingCommit;
}

/** Epoch seconds at which DynamoDB TTL may delete a tombstone. */
export function expiresAtSeconds(deletedAtMs: number, retentionMs: number): number {
  return Math.ceil((deletedAtMs + retentionMs) / 1000);
}

export function versionedFields<R>(entry: Versioned<R>, retentionMs: number): Item {
  const fields: Item = { resourceVersion: entry.resourceVersion };
  if (entry.record !== undefined) fields.record = entry.record;
  if (entry.deletedAtMs !== undefined) {
    fields.deletedAtMs = entry.deletedAtMs;
    if (entry.record === undefined) fields.expiresAt = expiresAtSeconds(entry.deletedAtMs, retentionMs);
  }
  return fields;
}

export function podItem(
  namespace: string,
  name: string,
  entry: Versioned<PodRecord>,
  identity: number | undefined,
  groupVersion: number,
  retentionMs: number,
): Item {
  const item: Item = {
    ...podKeyOf(namespace, name),
    ...versionedFields(entry, retentionMs),
    groupVersion,
  };
  if (identity !== undefined) item.identity = identity;
  const nodeName = entry.record?.nodeName;
  // The podsByNode index is sparse: only live pods scheduled on a node are in it.
  if (nodeName !== undefined && nodeName !== "") {
    item.nodeName = nodeName;
    item.podKey = `${namespace}/${name}`;
  }
  // The podsByIPv4 / podsByIPv6 indexes (ipcache) are sparse too: a pod item is put whole, so a
  // pod that lost its IP, finished or was deleted (a tombstone has no record) leaves them.
  const { ipv4, ipv6 } = indexedAddresses(entry.record);
  if (ipv4 !== undefined) item.ipv4 = ipv4;
  if (ipv6 !== undefined) item.ipv6 = ipv6;
  return item;
}

export function serviceItem(
  namespace: string,
  name: string,
  entry: Versioned<ServiceRecord>,
  groupVersion: number,
  retentionMs: number,
): Item {
  return { ...serviceKeyOf(namespace, name), ...versionedFields(entry, retentionMs), groupVersion };
}

export function nodeItem(name: string, entry: Versioned<NodeRecord>, retentionMs: number): Item {
  return { ...nodeKey(name), ...versionedFields(entry, retentionMs) };
}

/** A Versioned entry from an item; maps come back from DynamoDB in no particular key order. */
export function versionedFrom<R>(item: Item, normalize: (record: R) => R): Versioned<R> {
  const record = item.record === undefined ? undefined : normalize(item.record as R);
  const entry: { resourceVersion: string; record: R | undefined; deletedAtMs?: number } = {
    resourceVersion: String(item.resourceVersion),
    record,
  };
  if (typeof item.deletedAtMs === "number") entry.deletedAtMs = item.deletedAtMs;
  return entry;
}

export function normalizePod(record: PodRecord): PodRecord {
  return { ...record, labels: sortedLabels(record.labels) };
}

export function normalizeService(record: ServiceRecord): ServiceRecord {
  return {
    ...record,
    labels: sortedLabels(record.labels),
    selector: record.selector === undefined ? undefined : sortedLabels(record.selector),
  };
}

export function normalizeNamespace(record: NamespaceRecord): NamespaceRecord {
  return { ...record, labels: sortedLabels(record.labels) };
}

export function normalizeNode(record: NodeRecord): NodeRecord {
  return record;
}

// ----------------------------------------------------------------------------------------------
// Slices table
// ----------------------------------------------------------------------------------------------

/** Partition of an output object: its kind and namespace ("-" for cluster-scoped identities). */
export function slicePk(kind: OutputKind, namespace: string | undefined): string {
  return `${kind}#${namespace ?? "-"}`;
}

export function namespaceOf(object: OutputObject): string | undefined {
  if (object.kind === "EndpointSlice") return object.metadata.namespace;
  if (object.kind === "CiliumEndpointSlice") return object.namespace;
  return undefined;
}

export function sliceKey(object: OutputObject): Key {
  return { pk: slicePk(object.kind, namespaceOf(object)), sk: object.metadata.name };
}

/** "<namespace>/<name>" for EndpointSlices, "<name>" for the cluster-scoped kinds: the kind index's sort key. */
export function nsNameOf(object: OutputObject): string {
  const namespace = object.kind === "EndpointSlice" ? object.metadata.namespace : undefined;
  return namespace === undefined ? object.metadata.name : `${namespace}/${object.metadata.name}`;
}

/**
 * Partition keys of the kind index: a kind's objects spread over KIND_INDEX_SHARDS keys by a hash
 * of nsName, so no key takes every write of a kind (one index key holds at most 1,000 write units
 * a second). Lists across namespaces merge the shards in nsName order.
 */
export const KIND_INDEX_SHARDS = 16;
export const kindShardKey = (kind: OutputKind, nsName: string): string =>
  `${kind}#${shardOf(nsName, KIND_INDEX_SHARDS)}`;
export const kindShardKeys = (kind: OutputKind): string[] =>
  Array.from({ length: KIND_INDEX_SHARDS }, (_, shard) => `${kind}#${shard}`);

/** A stable shard of a text (32-bit FNV-1a of its UTF-8): the same in every writer and reader. */
export function shardOf(text: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash % shards;
}

export function sliceItem(object: OutputObject, sourceTimeMs: number): Item {
  const nsName = nsNameOf(object);
  return {
    ...sliceKey(object),
    kind: object.kind,
    kindShard: kindShardKey(object.kind, nsName),
    nsName,
    resourceVersion: object.metadata.resourceVersion,
    [COMPRESSED_OBJECT_ATTRIBUTE]: compressObjectJson(JSON.stringify(object)),
    sourceTimeMs,
  };
}

/**
 * A slices item in the current layout, for an item written by an earlier one (no `kindShard`, or
 * the object as JSON text in `object`); undefined when the item is current. The object, its
 * resourceVersion and sourceTimeMs are kept as stored: only the layout changes.
 */
export function upgradedSliceItem(item: Item): Item | undefined {
  if (
    typeof item.kindShard === "string" &&
    item[COMPRESSED_OBJECT_ATTRIBUTE] !== undefined &&
    item.object === undefined
  )
    return undefined;
  return sliceItem(objectFrom(item), Number(item.sourceTimeMs ?? 0));
}

/** The object an item stores (compressed, or as JSON text on items written before compression). */
export function objectFrom<T extends OutputObject>(item: Item): T {
  return JSON.parse(storedObjectJson(item)) as T;
}

// ----------------------------------------------------------------------------------------------
// Identities table
// ----------------------------------------------------------------------------------------------

export const IDENTITY_SK = "#identity";
export const LABELS_SK = "#labels";
export const CURSOR_KEY: Key = { pk: "#cursor", sk: "#cursor" };
export const GC_CANDIDATE = "yes";
export const GC_INDEX = INDEX_NAMES.gcCandidates;
export const PODS_BY_NODE_INDEX = INDEX_NAMES.podsByNode;
export const PODS_BY_IPV4_INDEX = INDEX_NAMES.podsByIPv4;
export const PODS_BY_IPV6_INDEX = INDEX_NAMES.podsByIPv6;
export const SLICES_BY_KIND_INDEX = INDEX_NAMES.slicesByKindShard;

const IDENTITY_PREFIX = "id#";
export const identityKey = (id: number): Key => ({ pk: IDENTITY_PREFIX + id, sk: IDENTITY_SK });
/** The numeric identity an `id#<n>` item (or index key) is about; undefined for any other item. */
export function identityIdOf(item: Item): number | undefined {
  const pk = String(item.pk);
  if (!pk.startsWith(IDENTITY_PREFIX)) return undefined;
  const id = Number(pk.slice(IDENTITY_PREFIX.length));
  return Number.isInteger(id) ? id : undefined;
}

/**
 * The label set's unique mapping item. Keyed by a SHA-256 of the label-set key rather than by
 * the key itself: a sort key holds at most 1024 bytes, a label set can be longer.
 */
export const labelsKey = (labelSetKey: string): Key => ({
  pk: `labels#${createHash("sha256").update(labelSetKey).digest("hex")}`,
  sk: LABELS_SK,
});

export const itemKeyString = (table: TableRef, key: Key): string => `${table}|${key.pk}|${key.sk}`;

/**
 * Change-log entries (the Kubernetes watch, shared/fanout/change-log.ts) in the state table:
 * CHANGE_LOG_SHARDS partitions per kind (by a hash of the object's key, so one object's events
 * stay in one partition, in order), sorted by the event's resourceVersion (zero-padded so strings
 * sort as numbers), then the object's key, so a rewrite of the same event is the same item. A
 * reader merges a kind's shards in that order. Fewer shards than the kind index: every watch poll
 * reads each of them.
 */
export const CHANGE_LOG_VERSION_DIGITS = 20;
export const CHANGE_LOG_SHARDS = 4;
export const changeLogPk = (kind: OutputKind, key: string): string =>
  `watch#${kind}#${shardOf(key, CHANGE_LOG_SHARDS)}`;
export const changeLogPks = (kind: OutputKind): string[] =>
  Array.from({ length: CHANGE_LOG_SHARDS }, (_, shard) => `watch#${kind}#${shard}`);
export const changeLogSk = (resourceVersion: string, key: string): string =>
  `${resourceVersion.padStart(CHANGE_LOG_VERSION_DIGITS, "0")}#${key}`;

/** A change-log entry as its item; `expiresAt` in epoch seconds (TTL). */
export function changeLogItem(entry: ChangeLogEntry, expiresAt: number): Item {
  return {
    [TABLE_KEYS.partitionKey]: changeLogPk(entry.kind, entry.key),
    [TABLE_KEYS.sortKey]: changeLogSk(entry.resourceVersion, entry.key),
    type: entry.type,
    resourceVersion: entry.resourceVersion,
    key: entry.key,
    ...(entry.namespace === undefined ? {} : { namespace: entry.namespace }),
    [COMPRESSED_OBJECT_ATTRIBUTE]: compressedObject(entry.object),
    ...(entry.previousLabels === undefined ? {} : { previousLabels: JSON.stringify(entry.previousLabels) }),
    [TABLE_KEYS.timeToLive]: expiresAt,
  };
}

/** A plain copy without undefined values, whatever marshalling options the client was built with. */
export function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => withoutUndefined(v)) as T;
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = withoutUndefined(v);
  return out as T;
}
