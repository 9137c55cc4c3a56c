/**
 * The DynamoDB tables as data: key schema, indexes, TTL and stream. The CDK app builds the tables
 * from this, the DynamoDB adapter writes items that follow it, and the local runner creates the
 * same tables from the synthesized template. Attribute names of items are documented here too.
 */
import { ENV, LOGICAL_IDS, TABLE_KEYS } from "./resources.ts";

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
 *   group#<ns>  / #meta         version (N), namespace entry (resourceVersion, record, deletedAtMs)
 *   group#<ns>  / pod#<name>    resourceVersion, record (M), deletedAtMs, expiresAt, identity (N),
 *                               nodeName + podKey (the podsByNode index, live pods only),
 *                               ipv4 / ipv6 (the podsByIPv4 / podsByIPv6 indexes: ipcache lookups,
 *                               live pods with an IP only)
 *   group#<ns>  / svc#<name>    resourceVersion, record (M), deletedAtMs, expiresAt
 *   node#<name> / #node         resourceVersion, record (M), deletedAtMs, expiresAt
 */
export const STATE_TABLE: TableSchema = {
  logicalId: LOGICAL_IDS.stateTable,
  envName: ENV.stateTable,
  partitionKey: TABLE_KEYS.partitionKey,
  sortKey: TABLE_KEYS.sortKey,
  timeToLiveAttribute: TABLE_KEYS.timeToLive,
  globalIndexes: [
    { name: "podsByNode", partitionKey: "nodeName", sortKey: "podKey", projection: "KEYS_ONLY" },
  ],
};

/**
 * Slices table items (pk / sk): one per output object.
 *   <kind>#<namespace, or "-" for cluster-scoped kinds> / <name>
 *   kind (S), nsName (S, "<namespace>/<name>" or "<name>"), resourceVersion (S),
 *   object (S, the Kubernetes-shaped JSON), sourceTimeMs (N): earliest source event it carries.
 * Its stream (new and old images) drives the fan-out.
 */
export const SLICES_TABLE: TableSchema = {
  logicalId: LOGICAL_IDS.slicesTable,
  envName: ENV.slicesTable,
  partitionKey: TABLE_KEYS.partitionKey,
  sortKey: TABLE_KEYS.sortKey,
  stream: "NEW_AND_OLD_IMAGES",
  globalIndexes: [{ name: "byKind", partitionKey: "kind", sortKey: "nsName", projection: "ALL" }],
};

/**
 * Identities table items (pk / sk):
 *   id#<n>        / #identity   labels (M), labelSetKey (S), refCount (N), unusedSinceMs (N),
 *                               resourceVersion (S); gcCandidate (S, "yes") while refCount is 0
 *   labels#<hash> / <labelSetKey> id (N): makes the label set -> id mapping unique
 *   #cursor       / #cursor     next (N): where allocation looks next
 */
export const IDENTITIES_TABLE: TableSchema = {
  logicalId: LOGICAL_IDS.identitiesTable,
  envName: ENV.identitiesTable,
  partitionKey: TABLE_KEYS.partitionKey,
  sortKey: TABLE_KEYS.sortKey,
  globalIndexes: [
    {
      name: "gcCandidates",
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
