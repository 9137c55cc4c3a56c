/**
 * The DynamoDB ClusterStore: the same behaviour as MemoryClusterStore, on three tables (layouts in
 * shared/config/table-schemas.ts), safe with any number of concurrent ingest invocations.
 *
 *  - loadGroup: strongly consistent Queries of `group#<ns>` (meta, pods, Services) and of the
 *    slices partitions `EndpointSlice#<ns>` / `CiliumEndpointSlice#<ns>`, paginated, then a second
 *    read of the meta version: the snapshot is used only if no commit landed in between (no
 *    transaction isolation across Queries otherwise). A pending multi-transaction commit is rolled
 *    forward first. With the warm cache, a group this instance committed last is reused after one
 *    GetItem shows the stored version unchanged.
 *  - commitGroup: see group-commit.ts for the transaction scheme and why crashes are safe.
 *  - identities: see identity-store.ts; reference counts are written by commitGroup.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { type ClusterStore, ConditionalWriteError, GroupConflictError } from "#shared/core/cluster-store.ts";
import type {
  CiliumEndpointSlice,
  EndpointSlice,
  NamespaceRecord,
  NodeRecord,
  PodRecord,
  ServiceRecord,
} from "#shared/core/model.ts";
import {
  inRange,
  type NameRange,
  NamespaceGroup,
  type SliceNameCounters,
} from "#shared/core/namespace-group.ts";
import { compareResourceVersions, type Versioned } from "#shared/core/object-versions.ts";
import type { ObjectWrite, OutputObject } from "#shared/core/output-changes.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";
import { type FaultHook, GroupCommitter } from "./group-commit.ts";
import { DynamoIdentityStore } from "./identity-store.ts";
import {
  type DynamoTables,
  GC_CANDIDATE,
  GROUP_PREFIX,
  groupPk,
  type Item,
  identityKey,
  itemKeyString,
  META_SK,
  NODE_PREFIX,
  NODE_SK,
  nodeItem,
  nodeKey,
  normalizeNamespace,
  normalizeNode,
  normalizePod,
  normalizeService,
  objectFrom,
  type PendingCommit,
  POD_PREFIX,
  PODS_BY_NODE_INDEX,
  podItem,
  podKeyOf,
  SERVICE_PREFIX,
  serviceItem,
  serviceKeyOf,
  sliceItem,
  sliceKey,
  slicePk,
  versionedFrom,
} from "./items.ts";
import { queryAllItems, scanPages } from "./paginate.ts";
import { queryPartition } from "./query-partition.ts";
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  estimateBytes,
  expressionParts,
  isConditionFailure,
  type PlannedOp,
  type RetryPolicy,
  retryingConflicts,
  sleep,
} from "./transact.ts";

export interface DynamoClusterStoreOptions {
  /**
   * Groups this instance committed last, kept to skip the reload when nobody else wrote them
   * since (a Lambda stays warm between batches). 0 turns the cache off. Default 64.
   */
  readonly warmCacheGroups?: number;
  /** Identity range; Cilium's cluster-local 256..65535 unless given (tests use small ones). */
  readonly minIdentity?: number;
  readonly maxIdentity?: number;
  /** Time for the store's own stamps (unusedSinceMs at commit, pending commits); the engine's clock. */
  readonly clock?: () => number;
  readonly retry?: RetryPolicy;
  /** Test hook: called at the points of a multi-transaction commit; throwing there simulates a crash. */
  readonly faults?: FaultHook;
}

/** What the store remembers about a group it handed out, to know what its commit must change. */
interface GroupBook {
  /** The identity each pod held as stored (at load or at the last commit). */
  identities: Map<string, number>;
  /** creationTimestamp of the group's stored objects by item key (the core does not keep it). */
  created: Map<string, string>;
}

const MAX_LOAD_ATTEMPTS = 8;
/** How often garbage collection sweeps pending commits it has no other reason to look at. */
const PENDING_SWEEP_INTERVAL_MS = 60_000;

export class DynamoClusterStore implements ClusterStore {
  readonly identities: DynamoIdentityStore;
  readonly #client: DynamoDBDocumentClient;
  readonly #tables: DynamoTables;
  readonly #settings: SlicingSettings;
  readonly #clock: () => number;
  readonly #retry: RetryPolicy;
  readonly #committer: GroupCommitter;
  readonly #cacheLimit: number;
  readonly #cache = new Map<string, NamespaceGroup>();
  readonly #books = new WeakMap<NamespaceGroup, GroupBook>();
  #lastPendingSweepMs = Number.NEGATIVE_INFINITY;
  /**
   * Zones read for the group being processed (null: node unknown or deleted). The commit checks
   * they are unchanged: a node's zone change writes the node, then finds its pods by index; a
   * group commit that read the old zone and lands after that write must replay, or its pods'
   * endpoints would keep the old zone (a write skew between the two). Like the engine, a store
   * instance processes one group at a time: loadGroup starts the record afresh.
   */
  readonly #zoneReads = new Map<string, string | undefined | null>();
  /** Commits that needed several transactions (for tests and metrics). */
  multiTransactionCommits = 0;

  constructor(
    client: DynamoDBDocumentClient,
    tables: DynamoTables,
    settings: SlicingSettings,
    options: DynamoClusterStoreOptions = {},
  ) {
    this.#client = client;
    this.#tables = tables;
    this.#settings = settings;
    this.#clock = options.clock ?? Date.now;
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#cacheLimit = options.warmCacheGroups ?? 64;
    this.#committer = new GroupCommitter(client, tables, {
      retry: this.#retry,
      clock: this.#clock,
      faults: options.faults,
    });
    this.identities = new DynamoIdentityStore(client, tables, {
      gcGraceMs: settings.identityGcGraceMs,
      minId: options.minIdentity,
      maxId: options.maxIdentity,
      retry: this.#retry,
      beforeCollect: (hasCandidates) => this.#beforeCollect(hasCandidates),
    });
  }

  // --------------------------------------------------------------------------------------------
  // Groups
  // --------------------------------------------------------------------------------------------

  async loadGroup(namespace: string): Promise<NamespaceGroup> {
    this.identities.resetAttempt();
    this.#zoneReads.clear();
    const cached = this.#cache.get(namespace);
    if (cached !== undefined) {
      this.#cache.delete(namespace); // handed out: back in only after a successful commit
      const meta = await this.#committer.readMeta(namespace);
      if (meta?.pending === undefined && (meta?.version ?? 0) === cached.version) return cached;
    }
    for (let attempt = 0; attempt < MAX_LOAD_ATTEMPTS; attempt++) {
      const stateItems = await queryPartition(this.#client, this.#tables.state, groupPk(namespace));
      const meta = stateItems.find((item) => item.sk === META_SK);
      if (meta?.pending !== undefined) {
        await this.#committer.rollForward(namespace, meta.pending as PendingCommit);
        continue;
      }
      const [endpointSlices, ciliumSlices] = await Promise.all([
        queryPartition(this.#client, this.#tables.slices, slicePk("EndpointSlice", namespace)),
        queryPartition(this.#client, this.#tables.slices, slicePk("CiliumEndpointSlice", namespace)),
      ]);
      const check = await this.#committer.readMeta(namespace);
      if (check?.pending !== undefined || (check?.version ?? 0) !== Number(meta?.version ?? 0)) {
        await sleep(backoffDelayMs(this.#retry, attempt));
        continue;
      }
      return this.#restore(namespace, meta, stateItems, endpointSlices, ciliumSlices);
    }
    const error = new GroupConflictError(namespace, -1, -1);
    error.message = `namespace group ${namespace} kept changing while it was read (${MAX_LOAD_ATTEMPTS} attempts)`;
    throw error;
  }

  #restore(
    namespace: string,
    meta: Item | undefined,
    stateItems: readonly Item[],
    endpointSliceItems: readonly Item[],
    ciliumSliceItems: readonly Item[],
  ): NamespaceGroup {
    const pods: Array<[string, Versioned<PodRecord>]> = [];
    const services: Array<[string, Versioned<ServiceRecord>]> = [];
    const podIdentities: Array<[string, number]> = [];
    for (const item of stateItems) {
      const sk = String(item.sk);
      if (sk.startsWith(POD_PREFIX)) {
        const name = sk.slice(POD_PREFIX.length);
        const entry = versionedFrom(item, normalizePod);
        pods.push([name, entry]);
        if (typeof item.identity === "number" && entry.record !== undefined)
          podIdentities.push([name, item.identity]);
      } else if (sk.startsWith(SERVICE_PREFIX)) {
        services.push([sk.slice(SERVICE_PREFIX.length), versionedFrom(item, normalizeService)]);
      }
    }
    const namespaceEntry =
      meta?.namespace === undefined
        ? undefined
        : versionedFrom<NamespaceRecord>(meta.namespace as Item, normalizeNamespace);
    const endpointSlices = endpointSliceItems.map((item) => objectFrom<EndpointSlice>(item));
    const ciliumEndpointSlices = ciliumSliceItems.map((item) => objectFrom<CiliumEndpointSlice>(item));
    const group = NamespaceGroup.restore(namespace, this.#settings, {
      version: Number(meta?.version ?? 0),
      namespaceEntry,
      pods,
      services,
      podIdentities,
      endpointSlices,
      ciliumEndpointSlices,
      sliceNameCounters: meta?.sliceNameCounters as SliceNameCounters | undefined,
    });
    const created = new Map<string, string>();
    for (const object of [...endpointSlices, ...ciliumEndpointSlices]) {
      const timestamp = object.metadata.creationTimestamp;
      if (timestamp !== undefined) created.set(itemKeyString("slices", sliceKey(object)), timestamp);
    }
    this.#books.set(group, { identities: new Map(group.podIdentities), created });
    return group;
  }

  async commitGroup(group: NamespaceGroup, writes: readonly ObjectWrite[]): Promise<void> {
    const book = this.#books.get(group) ?? { identities: new Map(), created: new Map() };
    const namespace = group.name;
    const nextVersion = group.version + 1;
    const retention = this.#settings.tombstoneRetentionMs;
    const unsaved = group.unsavedChanges();
    const ops: PlannedOp[] = [];

    // Pod and Service records. A namespace relabel changes pods' identities without touching
    // their records, so pods whose held identity changed are written too.
    const pods = new Map<string, [Versioned<PodRecord> | undefined, number | undefined]>();
    for (const [name, entry, identity] of unsaved.pods) pods.set(name, [entry, identity]);
    for (const [name, identity] of group.podIdentities) {
      if (!pods.has(name) && book.identities.get(name) !== identity)
        pods.set(name, [group.pods.get(name), identity]);
    }
    for (const name of book.identities.keys()) {
      if (!pods.has(name) && !group.podIdentities.has(name))
        pods.set(name, [group.pods.get(name), undefined]);
    }
    for (const [name, [entry, identity]] of pods) {
      ops.push(
        entry === undefined
          ? deleteOp("state", podKeyOf(namespace, name), `pod ${namespace}/${name}`)
          : putOp(
              "state",
              podItem(namespace, name, clean(entry), identity, nextVersion, retention),
              `pod ${namespace}/${name}`,
            ),
      );
    }
    for (const [name, entry] of unsaved.services) {
      ops.push(
        entry === undefined
          ? deleteOp("state", serviceKeyOf(namespace, name), `Service ${namespace}/${name}`)
          : putOp(
              "state",
              serviceItem(namespace, name, clean(entry), nextVersion, retention),
              `Service ${namespace}/${name}`,
            ),
      );
    }

    // Identity reference counts (absolute, per namespace) and publication of new identities.
    const before = countValues(book.identities.values());
    const after = countValues(group.podIdentities.values());
    const published = new Set(
      writes
        .filter((w) => w.kind === "CiliumIdentity" && w.op === "create")
        .map((w) => Number(w.object.metadata.name)),
    );
    const unusedSinceMs = this.#clock();
    for (const id of new Set([...before.keys(), ...after.keys(), ...published])) {
      const countChanged = before.get(id) !== after.get(id);
      if (!countChanged && !published.has(id)) continue;
      ops.push(
        identityRefsOp(
          id,
          namespace,
          countChanged ? (after.get(id) ?? 0) : undefined,
          published.has(id),
          unusedSinceMs,
        ),
      );
    }

    // Output objects, each on its resourceVersion.
    const created = new Map(book.created);
    for (const write of writes) ops.push(objectWriteOp(write, created));

    // The slice name counters go with every commit: a few bytes of an item written anyway.
    const namespaceEntry = unsaved.namespaceEntry;
    const mode = await this.#committer.commit({
      namespace,
      version: group.version,
      metaSet: [
        "#sliceNames = :sliceNames",
        ...(namespaceEntry === undefined ? [] : ["#namespace = :namespace"]),
      ],
      metaNames: {
        "#sliceNames": "sliceNameCounters",
        ...(namespaceEntry === undefined ? {} : { "#namespace": "namespace" }),
      },
      metaValues: {
        ":sliceNames": group.sliceNameCounters,
        ...(namespaceEntry === undefined ? {} : { ":namespace": namespaceFields(namespaceEntry) }),
      },
      ops: mergeSameItem(ops),
      checks: [...this.#zoneReads].map(([node, zone]) => zoneCheckOp(node, zone)),
    });
    if (mode === "multi") this.multiTransactionCommits++;

    group.version = nextVersion;
    group.markSaved();
    this.#books.set(group, { identities: new Map(group.podIdentities), created });
    if (this.#cacheLimit > 0) {
      this.#cache.delete(namespace);
      this.#cache.set(namespace, group);
      while (this.#cache.size > this.#cacheLimit) {
        const oldest = this.#cache.keys().next().value as string;
        this.#cache.delete(oldest);
      }
    }
  }

  /** Finishes multi-transaction commits left pending (by a crashed writer) at least `minAgeMs` ago. */
  rollForwardPendingCommits(minAgeMs = 0): Promise<number> {
    return this.#committer.rollForwardRegistered(minAgeMs);
  }

  async #beforeCollect(hasCandidates: boolean): Promise<void> {
    const nowMs = this.#clock();
    if (hasCandidates) {
      // Deleting identities: first make every claimed commit's references count.
      this.#lastPendingSweepMs = nowMs;
      await this.rollForwardPendingCommits(0);
    } else if (nowMs - this.#lastPendingSweepMs >= PENDING_SWEEP_INTERVAL_MS) {
      this.#lastPendingSweepMs = nowMs;
      await this.rollForwardPendingCommits(PENDING_SWEEP_INTERVAL_MS);
    }
  }

  // --------------------------------------------------------------------------------------------
  // Cluster-scoped writes, nodes
  // --------------------------------------------------------------------------------------------

  /**
   * Each write conditional on its resourceVersion. A delete also accepts an item already gone:
   * identity garbage collection deletes the CiliumIdentity object in the same transaction as the
   * identity (so a crash cannot orphan it), before the engine issues this delete.
   */
  async commitClusterWrites(writes: readonly ObjectWrite[]): Promise<void> {
    for (const write of writes) {
      const op = objectWriteOp(write, new Map());
      const mode = write.op === "delete" && write.expectedResourceVersion !== undefined ? "replay" : "strict";
      const parts = expressionParts(op, mode);
      try {
        await retryingConflicts(
          () =>
            op.action.type === "put"
              ? this.#client.send(
                  new PutCommand({
                    TableName: this.#tables.slices,
                    Item: { ...op.action.item, ...op.key },
                    ...parts,
                  }),
                )
              : this.#client.send(
                  new DeleteCommand({ TableName: this.#tables.slices, Key: { ...op.key }, ...parts }),
                ),
          this.#retry,
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        throw new ConditionalWriteError(
          `${write.op} of ${write.kind} ${write.object.metadata.name} expected resourceVersion ${write.expectedResourceVersion}`,
        );
      }
    }
  }

  async loadNode(name: string): Promise<Versioned<NodeRecord> | undefined> {
    const result = await this.#client.send(
      new GetCommand({ TableName: this.#tables.state, Key: nodeKey(name), ConsistentRead: true }),
    );
    return result.Item === undefined ? undefined : versionedFrom(result.Item, normalizeNode);
  }

  async commitNode(
    name: string,
    entry: Versioned<NodeRecord>,
    expected: Versioned<NodeRecord> | undefined,
  ): Promise<void> {
    try {
      await retryingConflicts(
        () =>
          this.#client.send(
            new PutCommand({
              TableName: this.#tables.state,
              Item: nodeItem(name, clean(entry), this.#settings.tombstoneRetentionMs),
              ConditionExpression: expected === undefined ? "attribute_not_exists(pk)" : "#rv = :expected",
              ExpressionAttributeNames: expected === undefined ? undefined : { "#rv": "resourceVersion" },
              ExpressionAttributeValues:
                expected === undefined ? undefined : { ":expected": expected.resourceVersion },
            }),
          ),
        this.#retry,
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Another invocation stored this version or a newer one: this write is stale, as the event
      // would have been had it arrived after that one. Anything else is a real conflict.
      const stored = await this.loadNode(name);
      if (stored !== undefined && compareResourceVersions(stored.resourceVersion, entry.resourceVersion) >= 0)
        return;
      throw new ConditionalWriteError(`node ${name} changed concurrently`);
    }
  }

  async zonesOf(nodeNames: Iterable<string>): Promise<Map<string, string | undefined>> {
    const zones = new Map<string, string | undefined>();
    const names = [...new Set(nodeNames)];
    for (let start = 0; start < names.length; start += 100) {
      let keys: Array<Record<string, unknown>> = names.slice(start, start + 100).map((name) => nodeKey(name));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 0) await sleep(backoffDelayMs(this.#retry, attempt));
        const result = await this.#client.send(
          new BatchGetCommand({
            RequestItems: {
              [this.#tables.state]: {
                Keys: keys,
                ConsistentRead: true,
                ProjectionExpression: "pk, #record",
                ExpressionAttributeNames: { "#record": "record" },
              },
            },
          }),
        );
        for (const item of result.Responses?.[this.#tables.state] ?? []) {
          const record = item.record as NodeRecord | undefined;
          if (record !== undefined) zones.set(String(item.pk).slice(NODE_PREFIX.length), record.zone);
        }
        keys = result.UnprocessedKeys?.[this.#tables.state]?.Keys ?? [];
      }
    }
    for (const name of names) this.#zoneReads.set(name, zones.has(name) ? zones.get(name) : null);
    return zones;
  }

  /**
   * A Scan of the state table (groups' meta items, or live nodes): nothing indexes these names,
   * and only a cluster-scoped resync (after a watch gap) asks, a few times a day at most.
   */
  async knownNames(kind: "Namespace" | "Node", range: NameRange): Promise<string[]> {
    const prefix = kind === "Node" ? NODE_PREFIX : GROUP_PREFIX;
    const names: string[] = [];
    for await (const page of scanPages(this.#client, {
      TableName: this.#tables.state,
      FilterExpression:
        kind === "Node"
          ? "sk = :sk AND begins_with(pk, :prefix) AND attribute_exists(#record)"
          : "sk = :sk AND begins_with(pk, :prefix)",
      ProjectionExpression: "pk",
      ExpressionAttributeNames: kind === "Node" ? { "#record": "record" } : undefined,
      ExpressionAttributeValues: { ":sk": kind === "Node" ? NODE_SK : META_SK, ":prefix": prefix },
    })) {
      for (const item of page.Items ?? []) {
        const name = String(item.pk).slice(prefix.length);
        if (inRange(name, range)) names.push(name);
      }
    }
    return names;
  }

  /** From the podsByNode index (eventually consistent, like every GSI). */
  async podsOnNode(nodeName: string): Promise<string[]> {
    const items = await queryAllItems(this.#client, {
      TableName: this.#tables.state,
      IndexName: PODS_BY_NODE_INDEX,
      KeyConditionExpression: "nodeName = :node",
      ExpressionAttributeValues: { ":node": nodeName },
    });
    return items.map((item) => String(item.podKey));
  }
}

// ----------------------------------------------------------------------------------------------
// Planned operations
// ----------------------------------------------------------------------------------------------

function putOp(table: PlannedOp["table"], item: Item, label: string): PlannedOp {
  return {
    table,
    key: { pk: String(item.pk), sk: String(item.sk) },
    action: { type: "put", item },
    bytes: estimateBytes(item),
    label,
  };
}

function deleteOp(table: PlannedOp["table"], key: { pk: string; sk: string }, label: string): PlannedOp {
  return { table, key, action: { type: "delete" }, bytes: 200, label };
}

/**
 * refs.<namespace> := the number of the namespace's pods holding the identity (removed at 0, and
 * then the identity becomes a garbage-collection candidate; GC checks that no namespace holds it).
 */
function identityRefsOp(
  id: number,
  namespace: string,
  count: number | undefined,
  publish: boolean,
  nowMs: number,
): PlannedOp {
  const set: string[] = [];
  const remove: string[] = [];
  if (count !== undefined && count > 0) {
    set.push("refs.#ns = :count");
    remove.push("gcCandidate", "unusedSinceMs");
  } else if (count !== undefined) {
    remove.push("refs.#ns");
    set.push("gcCandidate = :yes", "unusedSinceMs = :now");
  }
  if (publish) set.push("published = :true");
  const expression = [
    set.length > 0 ? `SET ${set.join(", ")}` : "",
    remove.length > 0 ? `REMOVE ${remove.join(", ")}` : "",
  ]
    .filter((part) => part !== "")
    .join(" ");
  return {
    table: "identities",
    key: identityKey(id),
    action: { type: "update", expression },
    // The identity must still exist: if it was collected, the group replays and acquires anew.
    condition: "attribute_exists(pk)",
    replayCondition: "attribute_exists(pk)",
    names: { "#ns": namespace },
    values: { ":count": count ?? 0, ":yes": GC_CANDIDATE, ":now": nowMs, ":true": true },
    bytes: 300,
    label: `identity ${id} held by ${count ?? "unchanged"} pods of ${namespace}`,
  };
}

/** The node still has the zone reconcile read (null: still unknown or deleted). */
function zoneCheckOp(node: string, zone: string | undefined | null): PlannedOp {
  const condition =
    zone === null
      ? "attribute_not_exists(#record)"
      : zone === undefined
        ? "attribute_exists(#record) AND attribute_not_exists(#record.#zone)"
        : "#record.#zone = :zone";
  return {
    table: "state",
    key: nodeKey(node),
    action: { type: "check" },
    condition,
    names: { "#record": "record", "#zone": "zone" },
    values: zone === null || zone === undefined ? undefined : { ":zone": zone },
    bytes: 200,
    label: `zone of node ${node}`,
  };
}

/**
 * A slices-table write on the object's resourceVersion: create when absent, update/delete when
 * still at the version the core expects. The replay condition also accepts the write's own
 * result (a roll-forward re-applying it). `created` carries creationTimestamps across writes.
 */
function objectWriteOp(write: ObjectWrite, created: Map<string, string>): PlannedOp {
  const key = sliceKey(write.object);
  const keyString = itemKeyString("slices", key);
  const label = `${write.op} of ${write.kind} ${write.object.metadata.name}`;
  const names = { "#rv": "resourceVersion" };
  const expected = write.expectedResourceVersion;
  if (write.op === "delete") {
    created.delete(keyString);
    return {
      table: "slices",
      key,
      action: { type: "delete" },
      condition: expected === undefined ? "attribute_not_exists(pk)" : "#rv = :expected",
      replayCondition: expected === undefined ? undefined : "attribute_not_exists(pk) OR #rv = :expected",
      names,
      values: expected === undefined ? undefined : { ":expected": expected },
      bytes: 300,
      label,
    };
  }
  const object = withCreationTimestamp(write, created.get(keyString));
  if (object.metadata.creationTimestamp !== undefined)
    created.set(keyString, object.metadata.creationTimestamp);
  const item = sliceItem(object, write.sourceTimeMs);
  return {
    table: "slices",
    key,
    action: { type: "put", item },
    condition: expected === undefined ? "attribute_not_exists(pk)" : "#rv = :expected",
    replayCondition:
      expected === undefined ? "attribute_not_exists(pk) OR #rv = :new" : "#rv = :expected OR #rv = :new",
    names,
    values: {
      ":new": object.metadata.resourceVersion,
      ...(expected === undefined ? {} : { ":expected": expected }),
    },
    bytes: estimateBytes(item),
    label,
  };
}

/** creationTimestamp as the memory store sets it: kept from the stored object, else the write's source time. */
function withCreationTimestamp(write: ObjectWrite, stored: string | undefined): OutputObject {
  const object = write.object;
  const timestamp =
    object.metadata.creationTimestamp ??
    stored ??
    (write.op === "create" ? new Date(write.sourceTimeMs).toISOString() : undefined);
  if (timestamp === object.metadata.creationTimestamp) return object;
  return { ...object, metadata: { ...object.metadata, creationTimestamp: timestamp } } as OutputObject;
}

/**
 * A transaction may touch an item once. Two writes of the same object in one commit become one:
 * the first's condition (what is stored now) with the last's effect (what must be stored).
 */
function mergeSameItem(ops: readonly PlannedOp[]): PlannedOp[] {
  const byKey = new Map<string, PlannedOp>();
  for (const op of ops) {
    const key = itemKeyString(op.table, op.key);
    const first = byKey.get(key);
    if (first === undefined) {
      byKey.set(key, op);
      continue;
    }
    if (first.action.type === "update" || op.action.type === "update")
      throw new Error(`two updates of one item in a commit: ${first.label}; ${op.label}`);
    byKey.set(key, {
      ...op,
      condition: first.condition,
      replayCondition: undefined,
      values: { ...op.values, ...first.values },
      label: `${first.label}, then ${op.label}`,
    });
  }
  return [...byKey.values()];
}

function namespaceFields(entry: Versioned<NamespaceRecord>): Item {
  const fields: Item = { resourceVersion: entry.resourceVersion };
  if (entry.record !== undefined) fields.record = clean(entry.record);
  if (entry.deletedAtMs !== undefined) fields.deletedAtMs = entry.deletedAtMs;
  return fields;
}

function countValues(ids: Iterable<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** A plain copy without undefined values, whatever marshalling options the client was built with. */
function clean<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => clean(v)) as T;
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = clean(v);
  return out as T;
}
