/**
 * SliceReader over DynamoDB, following shared/config/table-schemas.ts:
 *
 *   slices table      pk "<kind>#<namespace or ->", sk name; kind, kindShard, nsName,
 *                     resourceVersion, objectBr (compressed JSON), sourceTimeMs. GSI
 *                     byKindShardKeys (kindShard "<kind>#<0..15>", nsName), keys only.
 *     - a namespace's EndpointSlices: Query on pk (consistent read)
 *     - a kind across namespaces (and the cluster-scoped kinds): a Query on each index shard for
 *       keys, the objects of each page of keys read from the table (BatchGetItem, consistent
 *       read, in the keys' order), merged in nsName order (shard-merge.ts), as one partition
 *       sorted by nsName would read
 *     - get: GetItem (consistent read); a cluster-scoped object: its key from its name's index
 *       shard, then GetItem
 *   state table       group#<ns> / pod#<name> items of pods holding IPs carry ipv4 / ipv6 (the
 *                     writer's items.ts), the keys of the podsByIPv4 / podsByIPv6 indexes:
 *                     ipcache. record (M) is the PodRecord.
 *   identities table  id#<n> / #identity: labels (M) of an identity.
 *
 * Paging: selectors filter after reading (labels are inside the JSON), so a page keeps reading
 * until it has `limit` matches, the query ends, or the page budget (page-budget.ts: items read,
 * bytes returned) runs out. The continue token is the key of the last item consumed, returned or
 * filtered out (not DynamoDB's LastEvaluatedKey, which may lie past items read but not consumed),
 * bound to the query by a fingerprint and signed (continue-token.ts); anything else is 410 Expired.
 * Across shards the key is the merge position (kind, nsName, pk, sk): every shard resumes after it.
 */
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  type GetCommandOutput,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from "@aws-sdk/lib-dynamodb";
import { API_RESOURCES, OUTPUT_KINDS } from "#shared/api/api-resources.ts";
import { ContinueTokens, queryFingerprint, type TokenKey } from "#shared/api/continue-token.ts";
import { type IPClaim, winningClaim } from "#shared/api/ipcache-claims.ts";
import { PageCollector } from "#shared/api/page-budget.ts";
import {
  type IPCacheEntry,
  type ListOptions,
  type ListPagingOptions,
  type ListResult,
  listResult,
  matchesListSelectors,
  type SliceReader,
  type SliceStats,
} from "#shared/api/slice-reader.ts";
import {
  pipelineRateMinutes,
  pipelineRates,
  resourceVersionAt,
  STATS_RATE_WINDOW_SECONDS,
  statsRates,
} from "#shared/api/stats-rates.ts";
import { expiredContinue, internalError, tooManyRequests } from "#shared/api/status.ts";
import type { PodRecord } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { holdsIPs } from "#shared/core/pod-addresses.ts";
import { storedObjectJson } from "#shared/fanout/stored-object.ts";
import { readIdentityRangeUse } from "./identity-range-reader.ts";
import {
  GROUP_PREFIX,
  groupPk,
  identityKey,
  kindShardKey,
  kindShardKeys,
  POD_PREFIX,
  PODS_BY_IPV4_INDEX,
  PODS_BY_IPV6_INDEX,
  SLICES_BY_KIND_INDEX,
  slicePk,
} from "./items.ts";
import { queryPages } from "./paginate.ts";
import { DynamoPipelineCountsReader, PipelineCountsUnreadError } from "./pipeline-counts-reader.ts";
import { ShardMerge, type ShardReader } from "./shard-merge.ts";
import { backOff, DEFAULT_RETRY_POLICY } from "./transact.ts";

export interface DynamoSliceReaderOptions extends ListPagingOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly slicesTable: string;
  readonly stateTable: string;
  readonly identitiesTable: string;
  /** Strongly consistent reads where the base table allows them (default true). */
  readonly consistentRead?: boolean;
  /** How long stats() reuses its counts (they cost a COUNT query per kind); default 30 s. */
  readonly statsCacheMs?: number;
  /** Items read per Query when a selector filters (a page may need to read past non-matches). */
  readonly filteredReadSize?: number;
  readonly now?: () => number;
}

interface SliceItem {
  readonly pk: string;
  readonly sk: string;
  readonly kind: string;
  readonly nsName: string;
  readonly resourceVersion?: string;
  /** The object: compressed (objectBr), or JSON text (object) on items written before compression. */
  readonly objectBr?: Uint8Array;
  readonly object?: string;
}

interface QueryPlan {
  readonly input: Omit<QueryCommandInput, "ExclusiveStartKey" | "Limit">;
  /** The kind index's shard keys to merge; undefined for a single partition. */
  readonly shards?: readonly string[];
  /** Attributes of a start key for this query, with the values those fixed by the query must have. */
  readonly keyAttributes: readonly string[];
  readonly fixed: Readonly<Record<string, string>>;
}

const THROTTLING = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
]);

export class DynamoSliceReader implements SliceReader {
  readonly #options: DynamoSliceReaderOptions;
  readonly #documents: DynamoDBDocumentClient;
  readonly #consistent: boolean;
  readonly #now: () => number;
  readonly #pipelineCounts: DynamoPipelineCountsReader;
  readonly #tokens: ContinueTokens;
  #statsCache: { atMs: number; stats: Promise<SliceStats> } | undefined;

  constructor(options: DynamoSliceReaderOptions) {
    this.#options = options;
    this.#documents = options.documents;
    this.#consistent = options.consistentRead ?? true;
    this.#now = options.now ?? Date.now;
    this.#pipelineCounts = new DynamoPipelineCountsReader({
      documents: options.documents,
      stateTable: options.stateTable,
      consistentRead: this.#consistent,
    });
    this.#tokens = options.continueTokens ?? ContinueTokens.withRandomKey();
  }

  async list(
    kind: OutputKind,
    namespace: string | undefined,
    options: ListOptions = {},
  ): Promise<ListResult> {
    const resource = API_RESOURCES[kind];
    const scoped = resource.namespaced ? namespace : undefined;
    const plan = this.#plan(kind, resource.namespaced, scoped);
    const fingerprint = queryFingerprint([
      "dynamodb",
      kind,
      scoped,
      // The merged list's label, not the index's name: the order and the keys a continue token
      // holds are the same whichever projection the index has (byKindShard before).
      plan.input.IndexName === undefined ? undefined : MERGED_LIST_LABEL,
      options.labelSelector?.text,
      options.fieldSelector?.text,
    ]);
    let startKey =
      options.continueToken === undefined || options.continueToken === ""
        ? undefined
        : checkedStartKey(this.#tokens.decode(options.continueToken, fingerprint), plan);
    const page = new PageCollector(options.limit, this.#options.pageBudget);
    const filtered =
      (options.labelSelector?.requirements.length ?? 0) > 0 ||
      (options.fieldSelector?.requirements.length ?? 0) > 0;
    const matches = (object: OutputObject) => matchesListSelectors(options, object);
    if (plan.shards !== undefined)
      return this.#listMerged(plan, plan.shards, startKey, page, filtered, matches, fingerprint);
    // The key to resume after: the last item read and consumed (taken or filtered out).
    let resumeKey: TokenKey | undefined;
    for (;;) {
      const readSize = Math.min(this.#nextReadSize(page, filtered), 1000);
      const result = await this.#query({
        ...plan.input,
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        Limit: readSize,
      });
      const pageItems = (result.Items ?? []) as SliceItem[];
      let refused = false;
      for (const item of pageItems) {
        const { object, json } = parseObject(item);
        if (page.offer(matches(object) ? object : undefined, json) === "refused") {
          refused = true;
          break;
        }
        resumeKey = keyOf(item, plan);
      }
      const exhausted = !refused && result.LastEvaluatedKey === undefined;
      if (exhausted || page.done)
        return listResult(
          page.items,
          exhausted || resumeKey === undefined ? undefined : this.#tokens.encode(fingerprint, resumeKey),
        );
      startKey = result.LastEvaluatedKey as Record<string, string>;
      if (pageItems.length === 0) resumeKey = keyOf(startKey as unknown as SliceItem, plan);
    }
  }

  /**
   * A list across the kind index's shards: the merge offers items in nsName order; the continue
   * token is the position of the last item consumed. Each shard is read in pages of about its
   * share of what the page still needs (twice that: shards fill unevenly), so a page reads little
   * more than a single partition would, and never more items than the page budget allows (but at
   * least two per shard, what it takes to make progress); items read past the page's end are read
   * again by the next page.
   */
  async #listMerged(
    plan: QueryPlan,
    shards: readonly string[],
    startKey: Record<string, string> | undefined,
    page: PageCollector,
    filtered: boolean,
    matches: (object: OutputObject) => boolean,
    fingerprint: string,
  ): Promise<ListResult> {
    const kind = String(plan.fixed.kind);
    const read: ShardReader = async (shard, { from, startKey: exclusiveStart, limit }) => {
      const result = await this.#query({
        TableName: this.#options.slicesTable,
        IndexName: SLICES_BY_KIND_INDEX,
        KeyConditionExpression:
          from === undefined ? "kindShard = :shard" : "kindShard = :shard AND nsName >= :from",
        ExpressionAttributeValues: { ":shard": shard, ...(from === undefined ? {} : { ":from": from }) },
        ...(exclusiveStart === undefined ? {} : { ExclusiveStartKey: exclusiveStart }),
        Limit: limit,
      });
      // The index holds keys only: the objects come from the table, in the keys' order. A key
      // whose item is gone (deleted since the index, eventually consistent, listed it) is left out.
      const items = await this.#slicesOf(result.Items ?? []);
      return {
        items: items as unknown as Record<string, unknown>[],
        lastEvaluatedKey: result.LastEvaluatedKey,
      };
    };
    const merge = new ShardMerge({
      shards,
      read,
      sortKey: "nsName",
      maxReads: Math.max(page.scanAllowance, 2 * shards.length),
      after:
        startKey === undefined
          ? undefined
          : { sortKey: String(startKey.nsName), pk: String(startKey.pk), sk: String(startKey.sk) },
    });
    let resumeKey: TokenKey | undefined;
    for (;;) {
      const needed = this.#nextReadSize(page, filtered);
      const shardLimit = Math.min(1000, Math.max(8, Math.ceil((2 * needed) / shards.length)));
      const item = (await merge.peek(shardLimit)) as SliceItem | undefined;
      if (item === undefined) {
        // Out of read budget: the page ends where it got to (the first peek always fits the budget).
        const token = merge.stoppedByBudget && resumeKey !== undefined ? resumeKey : undefined;
        return listResult(
          page.items,
          token === undefined ? undefined : this.#tokens.encode(fingerprint, token),
        );
      }
      const { object, json } = parseObject(item);
      const refused = page.offer(matches(object) ? object : undefined, json) === "refused";
      if (!refused) {
        merge.advance();
        resumeKey = { kind, nsName: item.nsName, pk: item.pk, sk: item.sk };
      }
      if (refused || page.done) {
        const more = refused || merge.mayHaveMore;
        return listResult(
          page.items,
          !more || resumeKey === undefined ? undefined : this.#tokens.encode(fingerprint, resumeKey),
        );
      }
    }
  }

  async get(
    kind: OutputKind,
    namespace: string | undefined,
    name: string,
  ): Promise<OutputObject | undefined> {
    const resource = API_RESOURCES[kind];
    if (resource.namespaced && namespace === undefined) return undefined;
    if (!resource.namespaced) {
      // The partition of a cluster-scoped object is not known from its name alone (see #plan).
      const found = await this.#query({
        TableName: this.#options.slicesTable,
        IndexName: SLICES_BY_KIND_INDEX,
        KeyConditionExpression: "kindShard = :shard AND nsName = :name",
        ExpressionAttributeValues: { ":shard": kindShardKey(kind, name), ":name": name },
      });
      const key = found.Items?.[0];
      if (key === undefined) return undefined;
      const stored = await this.#getItem({
        TableName: this.#options.slicesTable,
        Key: { pk: key.pk, sk: key.sk },
        ConsistentRead: this.#consistent,
      });
      return stored.Item === undefined ? undefined : parseObject(stored.Item as SliceItem).object;
    }
    const result = await this.#getItem({
      TableName: this.#options.slicesTable,
      Key: { pk: slicePk(kind, namespace), sk: name },
      ConsistentRead: this.#consistent,
    });
    return result.Item === undefined ? undefined : parseObject(result.Item as SliceItem).object;
  }

  /**
   * The index is eventually consistent and KEYS_ONLY: each pod it names is read again (strongly)
   * and counts only if its item still carries the IP and holds it. Several pods may claim one IP
   * (ipcache-claims.ts picks the same one as every reader).
   */
  async lookupIP(ip: string): Promise<IPCacheEntry | undefined> {
    const attribute = ip.includes(":") ? "ipv6" : "ipv4";
    const claims: DynamoClaim[] = [];
    let read = 0;
    const pages = queryPages(this.#documents, {
      TableName: this.#options.stateTable,
      IndexName: attribute === "ipv6" ? PODS_BY_IPV6_INDEX : PODS_BY_IPV4_INDEX,
      KeyConditionExpression: "#ip = :ip",
      ExpressionAttributeNames: { "#ip": attribute },
      ExpressionAttributeValues: { ":ip": ip },
      Limit: MAX_IP_CLAIMS,
    });
    const readClaims = async () => {
      for await (const page of pages) {
        const indexed = (page.Items ?? []) as PodItem[];
        read += indexed.length;
        const items = await Promise.all(indexed.map((key) => this.#podItem(key.pk, key.sk)));
        for (const item of items) {
          const pod = item?.record;
          if (item === undefined || pod === undefined || pod === null) continue;
          if (item[attribute] !== ip || !holdsIPs(pod)) continue;
          claims.push({
            namespace: pod.namespace ?? item.pk.slice(GROUP_PREFIX.length),
            name: pod.name ?? item.sk.slice(POD_PREFIX.length),
            resourceVersion: String(item.resourceVersion ?? "0"),
            pod,
            item,
          });
        }
        // Beyond this many claims (host-network pods of one node, all on its IP) the rest are left.
        if (read >= MAX_IP_CLAIMS) break;
      }
    };
    await throttlingAs429(readClaims());
    const winner = winningClaim(claims);
    return winner === undefined ? undefined : this.#entry(ip, winner);
  }

  async namespaceExists(namespace: string): Promise<boolean> {
    const slices = await this.#query({
      TableName: this.#options.slicesTable,
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": slicePk("EndpointSlice", namespace) },
      ProjectionExpression: "pk",
      Limit: 1,
    });
    if ((slices.Items ?? []).length > 0) return true;
    const group = await this.#query({
      TableName: this.#options.stateTable,
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": groupPk(namespace) },
      ProjectionExpression: "pk",
      Limit: 1,
    });
    return (group.Items ?? []).length > 0;
  }

  /**
   * Counts per kind from COUNT queries on the byKind index (the same query also counts the objects
   * written in the rate window: stats-rates.ts), and identity range use from the allocation
   * cursor, the pipeline's rates from its per-minute counters in the state table (one BatchGetItem
   * of six keys); reused for statsCacheMs.
   */
  stats(): Promise<SliceStats> {
    const now = this.#now();
    const cache = this.#statsCache;
    if (cache !== undefined && now - cache.atMs < (this.#options.statsCacheMs ?? 30_000)) return cache.stats;
    const stats = this.#countAll(now);
    this.#statsCache = { atMs: now, stats };
    stats.catch(() => {
      if (this.#statsCache?.stats === stats) this.#statsCache = undefined;
    });
    return stats;
  }

  async #countAll(now: number): Promise<SliceStats> {
    const since = resourceVersionAt(now - STATS_RATE_WINDOW_SECONDS * 1000);
    const [identities, pipelineCounts, ...counted] = await Promise.all([
      throttlingAs429(readIdentityRangeUse(this.#documents, this.#options.identitiesTable)),
      throttlingAs429(this.#pipelineCounts.pipelineCountsOf(pipelineRateMinutes(now))),
      ...OUTPUT_KINDS.map((kind) => this.#count(kind, since)),
    ]);
    const perKind = (pick: (count: { total: number; recent: number }) => number) =>
      Object.fromEntries(
        OUTPUT_KINDS.map((kind, i) => [kind, pick(counted[i] ?? { total: 0, recent: 0 })]),
      ) as Record<OutputKind, number>;
    return {
      counts: perKind((count) => count.total),
      identities,
      rates: statsRates(
        perKind((count) => count.recent),
        pipelineRates(now, pipelineCounts),
      ),
      asOf: new Date(now).toISOString(),
    };
  }

  /**
   * All objects of a kind (the index's keys, over its shards) and those written at or after
   * `since` (their resourceVersion, read from the table: the index holds keys only).
   */
  async #count(kind: OutputKind, since: string): Promise<{ total: number; recent: number }> {
    let total = 0;
    let recent = 0;
    const countShard = async (shard: string) => {
      for await (const page of queryPages(this.#documents, {
        TableName: this.#options.slicesTable,
        IndexName: SLICES_BY_KIND_INDEX,
        KeyConditionExpression: "kindShard = :shard",
        ExpressionAttributeValues: { ":shard": shard },
      })) {
        const keys = page.Items ?? [];
        total += keys.length;
        for (const item of await this.#slicesOf(keys, "resourceVersion")) {
          // resourceVersion is a decimal string without leading zeros: longer is newer, and
          // equal lengths compare as text.
          const version = String(item.resourceVersion ?? "");
          if (version.length > since.length || (version.length === since.length && version >= since))
            recent++;
        }
      }
    };
    await throttlingAs429(Promise.all(kindShardKeys(kind).map(countShard)));
    return { total, recent };
  }

  /**
   * The slices items of index keys, in the keys' order, read with BatchGetItem (100 keys a call,
   * unprocessed keys read again with backoff; consistent reads unless the reader was built
   * without); keys whose item is gone are left out. `attributes`: a projection besides the keys.
   */
  async #slicesOf(keys: readonly Record<string, unknown>[], attributes?: string): Promise<SliceItem[]> {
    const table = this.#options.slicesTable;
    const found = new Map<string, SliceItem>();
    const keyString = (key: Record<string, unknown>) => `${String(key.pk)}\u0000${String(key.sk)}`;
    const chunks: Array<Array<{ pk: unknown; sk: unknown }>> = [];
    for (let start = 0; start < keys.length; start += BATCH_GET_KEYS)
      chunks.push(keys.slice(start, start + BATCH_GET_KEYS).map((key) => ({ pk: key.pk, sk: key.sk })));
    await Promise.all(
      chunks.map(async (chunk) => {
        let pending: Array<Record<string, unknown>> = chunk;
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt >= DEFAULT_RETRY_POLICY.attempts)
            throw tooManyRequests("the store left keys unread; retry shortly", 1);
          if (attempt > 0) await backOff(DEFAULT_RETRY_POLICY, attempt);
          const result = await throttlingAs429(
            this.#documents.send(
              new BatchGetCommand({
                RequestItems: {
                  [table]: {
                    Keys: pending,
                    ConsistentRead: this.#consistent,
                    ...(attributes === undefined ? {} : { ProjectionExpression: `pk, sk, ${attributes}` }),
                  },
                },
              }),
            ),
          );
          for (const item of result.Responses?.[table] ?? []) found.set(keyString(item), item as SliceItem);
          pending = result.UnprocessedKeys?.[table]?.Keys ?? [];
        }
      }),
    );
    return keys.flatMap((key) => found.get(keyString(key)) ?? []);
  }

  #plan(kind: OutputKind, namespaced: boolean, namespace: string | undefined): QueryPlan {
    // Cluster-wide lists merge the kind index's shards: CiliumEndpointSlices are cluster-scoped
    // objects, but the writer partitions them by the namespace they serve (its unit of consistency).
    if (!namespaced || namespace === undefined) {
      return {
        input: { TableName: this.#options.slicesTable, IndexName: SLICES_BY_KIND_INDEX },
        shards: kindShardKeys(kind),
        keyAttributes: ["kind", "nsName", "pk", "sk"],
        fixed: { kind },
      };
    }
    const pk = slicePk(kind, namespace);
    return {
      input: {
        TableName: this.#options.slicesTable,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": pk },
        ConsistentRead: this.#consistent,
      },
      keyAttributes: ["pk", "sk"],
      fixed: { pk },
    };
  }

  async #podItem(pk: string, sk: string): Promise<PodItem | undefined> {
    const result = await this.#getItem({
      TableName: this.#options.stateTable,
      Key: { pk, sk },
      ConsistentRead: this.#consistent,
    });
    return result.Item as PodItem | undefined;
  }

  async #entry(ip: string, claim: DynamoClaim): Promise<IPCacheEntry> {
    const { pod, item } = claim;
    let identity: IPCacheEntry["identity"];
    const id = typeof item.identity === "number" ? item.identity : Number(item.identity);
    if (item.identity !== undefined && Number.isInteger(id)) {
      const stored = await this.#getItem({
        TableName: this.#options.identitiesTable,
        Key: identityKey(id),
        ProjectionExpression: "labels",
      });
      const labels = (stored.Item as { labels?: Record<string, string> } | undefined)?.labels;
      identity = labels === undefined ? { id } : { id, labels: { ...labels } };
    }
    return {
      ip,
      namespace: claim.namespace,
      pod: claim.name,
      hostNetwork: pod.hostNetwork === true,
      identity,
      node: { nodeName: pod.nodeName ?? undefined, hostIP: pod.hostIP ?? undefined },
    };
  }

  /**
   * Items the next read asks for: what the page still wants (more when a selector may filter
   * most of them out), within what the page may still scan.
   */
  #nextReadSize(page: PageCollector, filtered: boolean): number {
    const wanted = page.limit - page.items.length;
    return Math.min(
      filtered ? Math.max(wanted, this.#options.filteredReadSize ?? 100) : wanted,
      page.scanAllowance,
    );
  }

  #query(input: QueryCommandInput): Promise<QueryCommandOutput> {
    return throttlingAs429(this.#documents.send(new QueryCommand(input)));
  }

  #getItem(input: GetCommandInput): Promise<GetCommandOutput> {
    return throttlingAs429(this.#documents.send(new GetCommand(input)));
  }
}

/** DynamoDB throttling is a 429 for the client to retry, not a server error. */
async function throttlingAs429<T>(request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof PipelineCountsUnreadError || (error instanceof Error && THROTTLING.has(error.name)))
      throw tooManyRequests("the store is throttling reads; retry shortly", 1);
    throw error;
  }
}

interface PodItem {
  readonly pk: string;
  readonly sk: string;
  readonly resourceVersion?: string;
  readonly identity?: number | string;
  readonly record?: PodRecord | null;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

interface DynamoClaim extends IPClaim {
  readonly pod: PodRecord;
  readonly item: PodItem;
}

/** Keys per BatchGetItem (DynamoDB's limit). */
const BATCH_GET_KEYS = 100;

/** What a cluster-wide list's continue token is bound to (with the kind and selectors). */
const MERGED_LIST_LABEL = "byKindShard";

/** Pods read for one IP at most (one node's host-network pods all share its IP). */
const MAX_IP_CLAIMS = 100;

/** The stored object and its JSON text (what a page's byte budget counts). */
function parseObject(item: SliceItem): { object: OutputObject; json: string } {
  try {
    const json = storedObjectJson(item as unknown as Record<string, unknown>);
    return { object: JSON.parse(json) as OutputObject, json };
  } catch {
    throw internalError(`stored object ${item.pk}/${item.sk} is not valid JSON`);
  }
}

function keyOf(item: SliceItem, plan: QueryPlan): TokenKey {
  const key: Record<string, string> = {};
  for (const attribute of plan.keyAttributes) key[attribute] = String(item[attribute as keyof SliceItem]);
  return key;
}

/** A decoded token's key must be exactly this query's key shape, in this query's partition. */
function checkedStartKey(key: TokenKey, plan: QueryPlan): Record<string, string> {
  const attributes = Object.keys(key).sort();
  const expected = [...plan.keyAttributes].sort();
  if (attributes.length !== expected.length || attributes.some((a, i) => a !== expected[i]))
    throw expiredContinue();
  for (const [attribute, value] of Object.entries(plan.fixed))
    if (key[attribute] !== value) throw expiredContinue();
  return { ...key };
}
