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
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";
import { type FaultHook, GroupCommitter } from "./group-commit.ts";
import { type GroupBook, objectWriteOp, planGroupCommit } from "./group-commit-plan.ts";
import { DynamoIdentityStore } from "./identity-store.ts";
import {
  type DynamoTables,
  GROUP_PREFIX,
  groupPk,
  type Item,
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
  SERVICE_PREFIX,
  sliceKey,
  slicePk,
  versionedFrom,
  withoutUndefined,
  ZONE_EPOCH_ATTRIBUTE,
  ZONE_EPOCH_KEY,
} from "./items.ts";
import { queryAllItems, scanPages } from "./paginate.ts";
import { queryPartition } from "./query-partition.ts";
import {
  backOff,
  DEFAULT_RETRY_POLICY,
  expressionParts,
  isConditionFailure,
  type RetryPolicy,
  retryingConflicts,
  transact,
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
   * The zone epoch (items.ts ZONE_EPOCH_KEY) read before the zones of the group being processed
   * (undefined: it read none). The commit checks it is unchanged: a node's zone change writes the
   * node and bumps the epoch in one transaction, then finds its pods by index; a group commit that
   * read the old zone and lands after that write must replay, or its pods' endpoints would keep
   * the old zone (a write skew between the two). One check per commit, whatever the nodes read.
   * Kept per namespace: the engine may reconcile a batch's groups concurrently; loadGroup starts
   * its namespace's afresh.
   */
  readonly #zoneEpochs = new Map<string, number>();
  /**
   * Zones read under one epoch value (null: no such node). Every Node commit that changes what
   * zonesOf answers bumps the epoch, so while a fresh consistent read of the epoch still gives
   * the value they were read under, they are what a read would give: a warm ingest reads the
   * epoch, not every node of every dirty pod, each batch.
   */
  #zoneCache: { epoch: number; zones: Map<string, string | undefined | null> } | undefined;
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
    this.identities.resetAttempt(namespace);
    this.#zoneEpochs.delete(namespace);
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
        await backOff(this.#retry, attempt);
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
    const { request, book } = planGroupCommit({
      group,
      writes,
      book: this.#books.get(group),
      tombstoneRetentionMs: this.#settings.tombstoneRetentionMs,
      nowMs: this.#clock(),
      zoneEpoch: this.#zoneEpochs.get(group.name),
    });
    const mode = await this.#committer.commit(request);
    if (mode === "multi") this.multiTransactionCommits++;

    const namespace = group.name;
    group.version = request.version + 1;
    group.markSaved();
    this.#books.set(group, book);
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
    const item = nodeItem(name, withoutUndefined(entry), this.#settings.tombstoneRetentionMs);
    const condition = {
      ConditionExpression: expected === undefined ? "attribute_not_exists(pk)" : "#rv = :expected",
      ExpressionAttributeNames: expected === undefined ? undefined : { "#rv": "resourceVersion" },
      ExpressionAttributeValues:
        expected === undefined ? undefined : { ":expected": expected.resourceVersion },
    };
    let lost: boolean;
    if (zoneReadOf(expected) === zoneReadOf(entry)) {
      // Addresses, a heartbeat, or a tombstone's tombstone: no zone read answers differently.
      try {
        await retryingConflicts(
          () =>
            this.#client.send(new PutCommand({ TableName: this.#tables.state, Item: item, ...condition })),
          this.#retry,
        );
        lost = false;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        lost = true;
      }
    } else {
      // What zonesOf answers changes: bump the zone epoch with the node, atomically.
      const outcome = await transact(
        this.#client,
        [
          { Put: { TableName: this.#tables.state, Item: item, ...withoutUndefined(condition) } },
          {
            Update: {
              TableName: this.#tables.state,
              Key: ZONE_EPOCH_KEY,
              UpdateExpression: "SET #epoch = if_not_exists(#epoch, :zero) + :one",
              ExpressionAttributeNames: { "#epoch": ZONE_EPOCH_ATTRIBUTE },
              ExpressionAttributeValues: { ":zero": 0, ":one": 1 },
            },
          },
        ],
        this.#retry,
      );
      lost = !outcome.ok;
    }
    if (!lost) return;
    // Another invocation stored this version or a newer one: this write is stale, as the event
    // would have been had it arrived after that one. Anything else is a real conflict.
    const stored = await this.loadNode(name);
    if (stored !== undefined && compareResourceVersions(stored.resourceVersion, entry.resourceVersion) >= 0)
      return;
    throw new ConditionalWriteError(`node ${name} changed concurrently`);
  }

  /**
   * Reads the zone epoch first (consistent), then the zones (consistent): a Node commit that
   * changes a zone after the epoch read bumps it, and the group's commit, checking the epoch it
   * read, conflicts; one that landed before is seen by the zone reads.
   */
  async zonesOf(nodeNames: Iterable<string>, namespace: string): Promise<Map<string, string | undefined>> {
    const zones = new Map<string, string | undefined>();
    const wanted = [...new Set(nodeNames)];
    if (wanted.length === 0) return zones;
    let epoch = this.#zoneEpochs.get(namespace);
    if (epoch === undefined) {
      epoch = await this.#readZoneEpoch();
      this.#zoneEpochs.set(namespace, epoch);
    }
    if (this.#zoneCache?.epoch !== epoch) this.#zoneCache = { epoch, zones: new Map() };
    const cache = this.#zoneCache;
    const names: string[] = [];
    for (const name of wanted) {
      const known = cache.zones.get(name);
      if (known === undefined && !cache.zones.has(name)) names.push(name);
      else if (known !== null) zones.set(name, known);
    }
    const found = await this.#readZones(names);
    for (const name of names) {
      const zone = found.has(name) ? found.get(name) : null;
      cache.zones.set(name, zone);
      if (zone !== null) zones.set(name, zone);
    }
    return zones;
  }

  async #readZones(names: readonly string[]): Promise<Map<string, string | undefined>> {
    const zones = new Map<string, string | undefined>();
    for (let start = 0; start < names.length; start += 100) {
      let keys: Array<Record<string, unknown>> = names.slice(start, start + 100).map((name) => nodeKey(name));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 0) await backOff(this.#retry, attempt);
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
    return zones;
  }

  async #readZoneEpoch(): Promise<number> {
    const result = await this.#client.send(
      new GetCommand({ TableName: this.#tables.state, Key: ZONE_EPOCH_KEY, ConsistentRead: true }),
    );
    return Number(result.Item?.[ZONE_EPOCH_ATTRIBUTE] ?? 0);
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

/**
 * What a zone read answers for a node in this state: absent (unknown or deleted), no zone, or
 * the zone. A Node commit bumps the zone epoch exactly when this changes.
 */
function zoneReadOf(entry: Versioned<NodeRecord> | undefined): string {
  if (entry?.record === undefined) return "\u0000absent";
  return entry.record.zone === undefined ? "\u0000no zone" : `=${entry.record.zone}`;
}
