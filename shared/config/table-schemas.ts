/**
 * The DynamoDB tables as data: key schema, indexes, TTL and stream. The CDK app builds the tables
 * from this, the DynamoDB adapter writes items that follow it, and the local runner creates the
 * same tables from the synthesized template. Attribute names of items are documented here too.
 */
import { ENV, LOGICAL_IDS, TABLE_KEYS } from "./resources.ts";

/** Names of the global secondary indexes: the tables below declare them, the adapters query them. */
export const INDEX_NAMES = {
  podsByNode: "podsByNode",
  podsByIPv4: "podsByIPv4",
  podsByIPv6: "podsByIPv6",
  /**
   * Keys only (byKindShard before it, which copied whole items): a new name, because DynamoDB
   * cannot change an index's projection in place (docs/aws.md, "Table layout").
   */
  slicesByKindShard: "byKindShardKeys",
  gcCandidates: "gcCandidates",
} as const;

export interface IndexSchema {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** Attribute type of the index sort key; string unless said. */
  readonly sortKeyType?: "S" | "N";
  readonly projection: "ALL" | "KEYS_ONLY";
}

export interface TableSchema {
  readonly logicalId: string;
  /** The environment variable that carries the table name to the functions that use it. */
  readonly envName: string;
  readonly partitionKey: string;
  readonly sortKey: string;
  readonly timeToLiveAttribute?: string;
  readonly stream?: "NEW_AND_OLD_IMAGES";
  readonly globalIndexes: readonly IndexSchema[];
}

/**
 * State table items (pk / sk):
 *   group#<ns>  / #meta         version (N), namespace (M: resourceVersion, record, deletedAtMs),
 *                               sliceNameCounters (M: endpointSlices, ciliumEndpointSlices: the last
 *                               number new slice names took; shared/core/slice-name-counter.ts),
 *                               pending (M: commitId, chunks, version, sinceMs) while a commit
 *                               spanning several transactions is being applied (never expires)
 *   group#<ns>  / pod#<name>    resourceVersion, record (M), deletedAtMs, expiresAt (tombstones),
 *                               identity (N), groupVersion (N: the group version that wrote it);
 *                               live pods only: nodeName + podKey (podsByNode index); pods that
 *                               hold their IPs (not Succeeded/Failed) only: ipv4 / ipv6 (first pod
 *                               IP of each family, canonical form; podsByIPv4/IPv6, ipcache)
 *   group#<ns>  / svc#<name>    resourceVersion, record (M), deletedAtMs, expiresAt, groupVersion
 *   node#<name> / #node         resourceVersion, record (M), deletedAtMs, expiresAt
 *   zoneEpoch   / #epoch        epoch (N): incremented by every Node commit that changes what a
 *                               zone read answers (a node created, deleted, or moved to another
 *                               zone); a group commit that read zones checks it is unchanged
 *   #pending    / <ns>          commitId, sinceMs, version: registry of pending multi-transaction
 *                               commits, so garbage collection can finish them
 *   intent#<ns>#<commitId> / chunk#<n>   data (B): serialized operations of a multi-transaction
 *                               commit (see shared/adapters/dynamodb/group-commit.ts), expiresAt
 *   stats#<minute> / #counts     the pipeline's counters (N each: messagesIn, eventsIn, ...,
 *                               deliveries; shared/pipeline/pipeline-counts.ts) of one minute
 *                               (whole minutes since the epoch), added to by the ingest and fan-out
 *                               functions, read by /v1/stats; expiresAt an hour after the minute
 *   watch#<kind>#<shard> / <resourceVersion, 20 digits>#<key>   the change log the Kubernetes
 *                               watch reads (docs/watch.md), shard 0..3 by a hash of key: type,
 *                               resourceVersion, key, namespace, objectBr (B, the JSON Brotli-
 *                               compressed: shared/fanout/stored-object.ts), previousLabels
 *                               (S, JSON), expiresAt (15 min + 1 min); written by the fan-out, read
 *                               by the API (merging a kind's shards)
 */
export const STATE_TABLE: TableSchema = {
  logicalId: LOGICAL_IDS.stateTable,
  envName: ENV.stateTable,
  partitionKey: TABLE_KEYS.partitionKey,
  sortKey: TABLE_KEYS.sortKey,
  timeToLiveAttribute: TABLE_KEYS.timeToLive,
  globalIndexes: [
    { name: INDEX_NAMES.podsByNode, partitionKey: "nodeName", sortKey: "podKey", projection: "KEYS_ONLY" },
    { name: INDEX_NAMES.podsByIPv4, partitionKey: "ipv4", projection: "KEYS_ONLY" },
    { name: INDEX_NAMES.podsByIPv6, partitionKey: "ipv6", projection: "KEYS_ONLY" },
  ],
};

/**
 * Slices table items (pk / sk): one per output object.
 *   <kind>#<namespace, or "-" for cluster-scoped kinds> / <name>
 *   kind (S), kindShard (S, "<kind>#<0..15>" by a hash of nsName: the byKindShardKeys index's key,
 *   so no index key takes all of a kind's writes), nsName (S, "<namespace>/<name>" or "<name>"),
 *   resourceVersion (S), objectBr (B, the Kubernetes-shaped JSON, Brotli-compressed:
 *   shared/fanout/stored-object.ts; items written before carry the JSON text in object (S), read
 *   too), sourceTimeMs (N): earliest source event it carries.
 * Its stream (new and old images) drives the fan-out. The kind index holds keys only: DynamoDB
 * writes it when an item enters or leaves it (a create, a delete), not when an object is
 * rewritten in place; cluster-wide lists read keys from it and the objects from the table.
 */
export const SLICES_TABLE: TableSchema = {
  logicalId: LOGICAL_IDS.slicesTable,
  envName: ENV.slicesTable,
  partitionKey: TABLE_KEYS.partitionKey,
  sortKey: TABLE_KEYS.sortKey,
  stream: "NEW_AND_OLD_IMAGES",
  globalIndexes: [
    {
      name: INDEX_NAMES.slicesByKindShard,
      partitionKey: "kindShard",
      sortKey: "nsName",
      projection: "KEYS_ONLY",
    },
  ],
};

/**
 * The slices table's kind index before it held keys only (projection ALL: every slice write was
 * written to it again). A stack that has it keeps it for one deploy with `-c legacyKindIndex=true`
 * while byKindShardKeys is created (one index created or deleted per table update), then drops it
 * (docs/aws.md, "Upgrading a deployed stack"). Nothing reads it.
 */
export const LEGACY_SLICES_KIND_INDEX: IndexSchema = {
  name: "byKindShard",
  partitionKey: "kindShard",
  sortKey: "nsName",
  projection: "ALL",
};

/**
 * Identities table items (pk / sk):
 *   id#<n>          / #identity  id (N), labels (M), labelSetKey (S), createdAtMs (N),
 *                                refs (M: namespace -> number of its pods holding the identity,
 *                                written by group commits; empty = unused), published (BOOL, once
 *                                its CiliumIdentity object is stored); gcCandidate (S, "yes") and
 *                                unusedSinceMs (N) while unused (the sparse gcCandidates index)
 *   labels#<sha256> / #labels    id (N), labelSetKey (S): makes the label set -> id mapping unique
 *                                (hashed: a sort key holds at most 1024 bytes, a label set more)
 *   #cursor         / #cursor    next (N): monotonic allocation counter (id = min + next mod
 *                                range size), allocated (N): identities that exist
 */
export const IDENTITIES_TABLE: TableSchema = {
  logicalId: LOGICAL_IDS.identitiesTable,
  envName: ENV.identitiesTable,
  partitionKey: TABLE_KEYS.partitionKey,
  sortKey: TABLE_KEYS.sortKey,
  globalIndexes: [
    {
      name: INDEX_NAMES.gcCandidates,
      partitionKey: "gcCandidate",
      sortKey: "unusedSinceMs",
      sortKeyType: "N",
      projection: "KEYS_ONLY",
    },
  ],
};

/**
 * Watchers table items (pk / sk):
 *   watcher#<node> / #watcher   node, zone, kinds (L), queueUrl, queueArn, subscriptionArns (L), registeredAtMs
 */
export const WATCHERS_TABLE: TableSchema = {
  logicalId: LOGICAL_IDS.watchersTable,
  envName: ENV.watchersTable,
  partitionKey: TABLE_KEYS.partitionKey,
  sortKey: TABLE_KEYS.sortKey,
  globalIndexes: [],
};

export const TABLE_SCHEMAS = [STATE_TABLE, SLICES_TABLE, IDENTITIES_TABLE, WATCHERS_TABLE] as const;
