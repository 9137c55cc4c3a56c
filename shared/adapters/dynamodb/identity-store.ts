/**
 * Central identity allocation on the identities table.
 *
 * Items (see table-schemas.ts):
 *   labels#<sha256> / #labels    id, labelSetKey: the one mapping of a label set to its id
 *   id#<n>          / #identity  id, labels, labelSetKey, refs (namespace -> pods holding it),
 *                                published once its CiliumIdentity object is stored,
 *                                gcCandidate + unusedSinceMs while nobody holds it
 *   #cursor         / #cursor    next (monotonic allocation counter), allocated (identities alive)
 *
 * Uniqueness: a new identity is created by one transaction that puts the `labels#` item and the
 * `id#` item, both conditional on not existing, and advances the cursor; two concurrent acquires
 * of the same new label set cannot both succeed (the loser re-reads the mapping), and two
 * acquires of different label sets that picked the same id cannot both succeed (the loser tries
 * the next id). Garbage collection deletes both items in one transaction, so a mapping never
 * points at a deleted id.
 *
 * Reference counts are NOT changed by acquire/release. A group commit replays after a conflict and
 * a Lambda can die between reconcile and commit, so counting at acquire time would leak or lose
 * references. Instead each group commit sets, in the same transaction(s) as the pod items, the
 * number of the namespace's pods holding each identity whose count changed (refs.<namespace>:
 * an absolute value, so applying it twice is harmless); see group-commit.ts. acquire only finds or
 * creates the id, and postpones a pending garbage collection of it by a grace period so the
 * commit that will reference it lands first; release has nothing to do.
 */
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { IdentityStore } from "#shared/core/cluster-store.ts";
import { ciliumIdentityObject } from "#shared/core/identity/cilium-identity.ts";
import {
  IdentityExhaustedError,
  MAX_CLUSTER_IDENTITY,
  MIN_CLUSTER_IDENTITY,
} from "#shared/core/identity/identity-allocator.ts";
import { labelSetKey } from "#shared/core/identity/security-labels.ts";
import { sortedLabels } from "#shared/core/labels.ts";
import type { CiliumIdentity } from "#shared/core/model.ts";
import {
  CURSOR_KEY,
  type DynamoTables,
  GC_CANDIDATE,
  GC_INDEX,
  type Item,
  identityIdOf,
  identityKey,
  labelsKey,
  objectFrom,
  slicePk,
} from "./items.ts";
import { queryAllItems } from "./paginate.ts";
import {
  backOff,
  DEFAULT_RETRY_POLICY,
  isConditionFailure,
  type RetryPolicy,
  retryingConflicts,
  transact,
} from "./transact.ts";

export interface DynamoIdentityStoreOptions {
  readonly gcGraceMs: number;
  readonly minId?: number;
  readonly maxId?: number;
  readonly retry?: RetryPolicy;
  /** Runs before garbage is collected (the cluster store rolls pending group commits forward). */
  readonly beforeCollect?: (hasCandidates: boolean) => Promise<void>;
}

/**
 * How long a published identity found by acquire is reused without reading it again, at most: far
 * inside the garbage-collection grace (see #recentlyPublished), and short enough that the warm
 * process's view of a label set's identity is never old.
 */
const RECENT_IDENTITY_TTL_MS = 30_000;
/** Label sets remembered across attempts, at most (a warm Lambda's memory stays bounded). */
const RECENT_IDENTITY_LIMIT = 20_000;

/** Ids probed per BatchGetItem when looking for a free one. */
const PROBE_WINDOW = 100;
const MAX_ACQUIRE_ROUNDS = 50;

export class DynamoIdentityStore implements IdentityStore {
  readonly minId: number;
  readonly maxId: number;
  readonly gcGraceMs: number;
  readonly #client: DynamoDBDocumentClient;
  readonly #tables: DynamoTables;
  readonly #retry: RetryPolicy;
  readonly #beforeCollect: (hasCandidates: boolean) => Promise<void>;
  /** What each namespace group's current attempt has met (resetAttempt starts one afresh). */
  readonly #attempts = new Map<string, GroupAttempt>();
  /**
   * Published identities acquire found lately, by label-set key, with the time it found them:
   * every ingest batch acquires the identities of the pods it reconciles, nearly always the same
   * few label sets, and two consistent reads per label set per group were most of an ingest
   * invocation's round trips. Reusing one without a read is safe while it is younger than a
   * fraction of the grace period: acquire left its unused-since time at or after the moment it
   * was found (it was held, or #touch moved it to then), so garbage collection cannot take it
   * before that time plus the grace; and a published identity stays published until collected.
   * Unpublished ones are always read (their first commit publishes them).
   */
  readonly #recentlyPublished = new Map<string, { identity: StoredIdentity; foundAtMs: number }>();
  readonly #recentTtlMs: number;

  constructor(client: DynamoDBDocumentClient, tables: DynamoTables, options: DynamoIdentityStoreOptions) {
    this.#client = client;
    this.#tables = tables;
    this.minId = options.minId ?? MIN_CLUSTER_IDENTITY;
    this.maxId = options.maxId ?? MAX_CLUSTER_IDENTITY;
    if (
      !Number.isInteger(this.minId) ||
      !Number.isInteger(this.maxId) ||
      this.minId < 1 ||
      this.maxId < this.minId
    )
      throw new RangeError(`identity range ${this.minId}..${this.maxId} is invalid`);
    this.gcGraceMs = options.gcGraceMs;
    this.#recentTtlMs = Math.min(RECENT_IDENTITY_TTL_MS, this.gcGraceMs / 4);
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#beforeCollect = options.beforeCollect ?? (async () => {});
  }

  get capacity(): number {
    return this.maxId - this.minId + 1;
  }

  /**
   * A new attempt of `namespace`'s group starts (every group's, without one): identities still
   * unpublished are reported to it as created again. Both caches are per group, so groups of one
   * batch can be reconciled concurrently.
   */
  resetAttempt(namespace?: string): void {
    if (namespace === undefined) this.#attempts.clear();
    else this.#attempts.delete(namespace);
  }

  #attemptOf(namespace: string): GroupAttempt {
    let attempt = this.#attempts.get(namespace);
    if (attempt === undefined) {
      attempt = { cache: new Map(), announced: new Set() };
      this.#attempts.set(namespace, attempt);
    }
    return attempt;
  }

  async acquire(
    labels: Record<string, string>,
    nowMs: number,
    namespace = "",
  ): Promise<{ id: number; created: CiliumIdentity | undefined }> {
    const attempt = this.#attemptOf(namespace);
    const key = labelSetKey(labels);
    const cached = attempt.cache.get(key) ?? this.#recent(key, nowMs);
    if (cached !== undefined) {
      attempt.cache.set(key, cached);
      return { id: cached.id, created: announce(cached, attempt.announced) };
    }
    const mappingKey = labelsKey(key);
    for (let round = 0; round < MAX_ACQUIRE_ROUNDS; round++) {
      const mapping = await this.#get(mappingKey);
      let identity: StoredIdentity | "mapping-exists" | undefined;
      if (mapping !== undefined) {
        if (mapping.labelSetKey !== key) throw new Error(`label-set hash collision for ${key}`);
        identity = await this.#touch(Number(mapping.id), nowMs);
        if (identity === undefined) continue; // collected meanwhile: the mapping went with it
      } else {
        identity = await this.#allocate(key, labels, nowMs);
        if (identity === "mapping-exists") continue;
      }
      attempt.cache.set(key, identity);
      this.#remember(key, identity, nowMs);
      return { id: identity.id, created: announce(identity, attempt.announced) };
    }
    throw new Error(`could not acquire an identity for ${key} after ${MAX_ACQUIRE_ROUNDS} rounds`);
  }

  async release(id: number, _nowMs: number): Promise<void> {
    // Counting happens at commit (see the module comment): nothing to store here.
    if (!Number.isInteger(id)) throw new RangeError(`identity id must be an integer, got ${id}`);
  }

  async collectGarbage(nowMs: number): Promise<CiliumIdentity[]> {
    this.resetAttempt(); // the caches may hold identities (and ids) about to be collected
    const threshold = nowMs - this.gcGraceMs;
    const candidates: number[] = [];
    for (const item of await queryAllItems(this.#client, {
      TableName: this.#tables.identities,
      IndexName: GC_INDEX,
      KeyConditionExpression: "gcCandidate = :yes AND unusedSinceMs <= :threshold",
      ExpressionAttributeValues: { ":yes": GC_CANDIDATE, ":threshold": threshold },
    })) {
      const id = identityIdOf(item);
      if (id !== undefined) candidates.push(id);
    }
    await this.#beforeCollect(candidates.length > 0);
    const deleted: CiliumIdentity[] = [];
    for (const id of candidates.sort((a, b) => a - b)) {
      const object = await this.#collect(id, threshold);
      if (object !== undefined) deleted.push(object);
    }
    return deleted;
  }

  /**
   * Deletes one identity if it is still unused past the grace period, with its mapping and its
   * CiliumIdentity object, in one transaction. The object is returned as it was stored (the
   * engine then issues the delete, which finds it gone; see commitClusterWrites).
   */
  async #collect(id: number, threshold: number): Promise<CiliumIdentity | undefined> {
    const item = await this.#get(identityKey(id));
    if (item === undefined || item.gcCandidate !== GC_CANDIDATE) return undefined;
    const unusedSinceMs = Number(item.unusedSinceMs);
    if (!(unusedSinceMs <= threshold)) return undefined;
    if (Object.keys((item.refs as Record<string, number> | undefined) ?? {}).length > 0) {
      // Still held elsewhere (another namespace): take it off the candidate index.
      await this.#client
        .send(
          new UpdateCommand({
            TableName: this.#tables.identities,
            Key: identityKey(id),
            UpdateExpression: "REMOVE gcCandidate, unusedSinceMs",
            ConditionExpression: "size(refs) > :zero AND unusedSinceMs = :since",
            ExpressionAttributeValues: { ":zero": 0, ":since": unusedSinceMs },
          }),
        )
        .catch((error: unknown) => {
          if (!isConditionFailure(error)) throw error;
        });
      return undefined;
    }
    // Not reused from memory any more by this process, whatever the outcome below.
    this.#recentlyPublished.delete(String(item.labelSetKey));
    const objectKey = { pk: slicePk("CiliumIdentity", undefined), sk: String(id) };
    const stored = item.published === true ? await this.#get(objectKey, this.#tables.slices) : undefined;
    const items: unknown[] = [
      {
        Delete: {
          TableName: this.#tables.identities,
          Key: identityKey(id),
          ConditionExpression:
            "gcCandidate = :yes AND unusedSinceMs = :since AND (attribute_not_exists(refs) OR size(refs) = :zero)",
          ExpressionAttributeValues: { ":yes": GC_CANDIDATE, ":since": unusedSinceMs, ":zero": 0 },
        },
      },
      {
        Delete: {
          TableName: this.#tables.identities,
          Key: labelsKey(String(item.labelSetKey)),
          ConditionExpression: "attribute_not_exists(pk) OR id = :id",
          ExpressionAttributeValues: { ":id": id },
        },
      },
      {
        Update: {
          TableName: this.#tables.identities,
          Key: CURSOR_KEY,
          UpdateExpression: "ADD allocated :minusOne",
          ExpressionAttributeValues: { ":minusOne": -1 },
        },
      },
    ];
    if (stored !== undefined) {
      items.push({
        Delete: {
          TableName: this.#tables.slices,
          Key: objectKey,
          ConditionExpression: "resourceVersion = :rv",
          ExpressionAttributeValues: { ":rv": stored.resourceVersion },
        },
      });
    }
    const outcome = await transact(this.#client, items, this.#retry);
    if (!outcome.ok) return undefined; // revived or changed meanwhile: not garbage any more
    return stored === undefined ? undefined : objectFrom<CiliumIdentity>(stored);
  }

  /** Reads an identity; if it waits for collection, moves its unused-since time to now. */
  async #touch(id: number, nowMs: number): Promise<StoredIdentity | undefined> {
    const item = await this.#get(identityKey(id));
    if (item === undefined) return undefined;
    if (item.gcCandidate === GC_CANDIDATE && Number(item.unusedSinceMs) < nowMs) {
      try {
        await retryingConflicts(
          () =>
            this.#client.send(
              new UpdateCommand({
                TableName: this.#tables.identities,
                Key: identityKey(id),
                UpdateExpression: "SET unusedSinceMs = :now",
                ConditionExpression: "gcCandidate = :yes AND unusedSinceMs < :now",
                ExpressionAttributeValues: { ":now": nowMs, ":yes": GC_CANDIDATE },
              }),
            ),
          this.#retry,
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // Collected just now (then acquire starts over), or held or touched by someone else.
        if ((await this.#get(identityKey(id))) === undefined) return undefined;
      }
    }
    return storedIdentity(item);
  }

  async #allocate(
    key: string,
    labels: Record<string, string>,
    nowMs: number,
  ): Promise<StoredIdentity | "mapping-exists"> {
    const sorted = sortedLabels(labels);
    let cursor = await this.#readCursor();
    let probed = 0;
    for (let attempt = 0; ; ) {
      if (cursor.allocated >= this.capacity) throw this.#exhausted(cursor.allocated);
      const window = Math.min(PROBE_WINDOW, this.capacity);
      const positions = Array.from({ length: window }, (_, i) => cursor.next + i);
      const taken = await this.#takenIds(positions.map((p) => this.#idAt(p)));
      const free = positions.find((p) => !taken.has(this.#idAt(p)));
      if (free === undefined) {
        probed += window;
        if (probed >= this.capacity) throw this.#exhausted(cursor.allocated);
        cursor = { ...cursor, next: cursor.next + window };
        continue;
      }
      const id = this.#idAt(free);
      const mapping = labelsKey(key);
      const outcome = await transact(
        this.#client,
        [
          {
            Put: {
              TableName: this.#tables.identities,
              Item: { ...mapping, id, labelSetKey: key },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          {
            Put: {
              TableName: this.#tables.identities,
              Item: {
                ...identityKey(id),
                id,
                labels: sorted,
                labelSetKey: key,
                refs: {},
                createdAtMs: nowMs,
                // Unheld until a group commit counts it: collected after the grace if none ever does.
                gcCandidate: GC_CANDIDATE,
                unusedSinceMs: nowMs,
              },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          {
            Update: {
              TableName: this.#tables.identities,
              Key: CURSOR_KEY,
              UpdateExpression: "SET #next = :after ADD allocated :one",
              ConditionExpression:
                "(attribute_not_exists(#next) OR #next <= :position) AND (attribute_not_exists(allocated) OR allocated < :capacity)",
              ExpressionAttributeNames: { "#next": "next" },
              ExpressionAttributeValues: {
                ":after": free + 1,
                ":position": free,
                ":one": 1,
                ":capacity": this.capacity,
              },
            },
          },
        ],
        this.#retry,
      );
      if (outcome.ok) return { id, labels: sorted, published: false };
      if (outcome.failed.includes(0)) return "mapping-exists";
      if (outcome.failed.includes(2)) {
        // The cursor moved on (another allocation) or the range filled up: read it again.
        cursor = await this.#readCursor();
      } else {
        // Only the id was taken meanwhile: try the positions after it.
        cursor = { ...cursor, next: free + 1 };
      }
      if (++attempt % 8 === 0) await backOff(this.#retry, Math.min(attempt / 8, 6));
    }
  }

  #recent(key: string, nowMs: number): StoredIdentity | undefined {
    const entry = this.#recentlyPublished.get(key);
    if (entry === undefined) return undefined;
    const ageMs = nowMs - entry.foundAtMs;
    if (ageMs >= 0 && ageMs < this.#recentTtlMs) return entry.identity;
    this.#recentlyPublished.delete(key);
    return undefined;
  }

  #remember(key: string, identity: StoredIdentity, nowMs: number): void {
    if (!identity.published || this.#recentTtlMs <= 0) return;
    if (this.#recentlyPublished.size >= RECENT_IDENTITY_LIMIT) this.#recentlyPublished.clear();
    this.#recentlyPublished.set(key, { identity, foundAtMs: nowMs });
  }

  #idAt(position: number): number {
    return this.minId + (position % this.capacity);
  }

  #exhausted(allocated: number): IdentityExhaustedError {
    return new IdentityExhaustedError(
      `all ${this.capacity} identities in ${this.minId}..${this.maxId} are allocated (${allocated} recorded, ` +
        "unused ones await garbage collection)",
    );
  }

  async #readCursor(): Promise<{ next: number; allocated: number }> {
    const item = await this.#get(CURSOR_KEY);
    return { next: Number(item?.next ?? 0), allocated: Number(item?.allocated ?? 0) };
  }

  async #takenIds(ids: readonly number[]): Promise<Set<number>> {
    const taken = new Set<number>();
    let keys: Array<Record<string, unknown>> = [...new Set(ids)].map((id) => identityKey(id));
    for (let attempt = 0; keys.length > 0; attempt++) {
      const result = await this.#client.send(
        new BatchGetCommand({
          RequestItems: {
            [this.#tables.identities]: { Keys: keys, ConsistentRead: true, ProjectionExpression: "pk" },
          },
        }),
      );
      for (const item of result.Responses?.[this.#tables.identities] ?? []) {
        const id = identityIdOf(item);
        if (id !== undefined) taken.add(id);
      }
      keys = result.UnprocessedKeys?.[this.#tables.identities]?.Keys ?? [];
      if (keys.length > 0) await backOff(this.#retry, attempt);
    }
    return taken;
  }

  async #get(key: { pk: string; sk: string }, table = this.#tables.identities): Promise<Item | undefined> {
    const result = await this.#client.send(
      new GetCommand({ TableName: table, Key: key, ConsistentRead: true }),
    );
    return result.Item;
  }
}

/** What one attempt of a namespace group's commit has met of identities. */
interface GroupAttempt {
  /**
   * Identities found or created in this attempt, by label-set key: a namespace relabel acquires
   * the same few label sets for every pod. Reusing them within one attempt is safe: the commit's
   * reference update requires the identity to still exist, else it replays.
   */
  readonly cache: Map<string, StoredIdentity>;
  /**
   * Identities reported to this attempt as created: the engine must write each new
   * CiliumIdentity once per commit, though until that commit lands every acquire of the label
   * set sees it unpublished.
   */
  readonly announced: Set<number>;
}

/** The identity's object the first time this attempt meets it unpublished; undefined after. */
function announce(identity: StoredIdentity, announced: Set<number>): CiliumIdentity | undefined {
  if (identity.published || announced.has(identity.id)) return undefined;
  announced.add(identity.id);
  return ciliumIdentityObject(identity.id, identity.labels);
}

interface StoredIdentity {
  readonly id: number;
  readonly labels: Record<string, string>;
  readonly published: boolean;
}

function storedIdentity(item: Item): StoredIdentity {
  return {
    id: Number(item.id),
    labels: sortedLabels((item.labels as Record<string, string> | undefined) ?? {}),
    published: item.published === true,
  };
}
