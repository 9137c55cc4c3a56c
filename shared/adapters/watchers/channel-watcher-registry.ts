/**
 * The real WatcherRegistry: a watcher's channel (queue + subscriptions) on SQS/SNS, its record in
 * the watchers table. Registration opens the channel first and records it second, so a crash in
 * between leaves a channel that the next registration of the node reuses, never a record without
 * a channel.
 *
 * Every write of a record is conditional: created only where none is, replaced only at the
 * revision it was read at and by the principal that owns it, so concurrent registrations,
 * refreshes, deregistrations and sweeps never overwrite each other. Removal (deregistration or
 * expiry) first claims the record (`removingSinceMs`, a new revision), then closes the channel,
 * then deletes the record: a refresh or registration racing it loses instead of keeping a record
 * whose queue is gone. A claim older than CLAIM_STALE_MS is taken over (the remover crashed).
 *
 * Per-owner caps are counted in `owner#<sha256(principal)>` items (`held`), changed in the same
 * transaction as the registration record they count.
 */

import { createHash } from "node:crypto";
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { scanPages } from "#shared/adapters/dynamodb/paginate.ts";
import type { WatcherOwner } from "#shared/api/watcher-authorization.ts";
import {
  DEFAULT_WATCHER_TTL_SECONDS,
  QUEUE_NAME_REUSE_SECONDS,
  WATCHER_QUEUE_RETENTION_SECONDS,
  type WatcherAck,
  type WatcherApplied,
  WatcherBusyError,
  WatcherCapExceededError,
  WatcherOwnedElsewhereError,
  type WatcherRegistration,
  type WatcherRegistry,
  type WatcherRequest,
  withAck,
} from "#shared/api/watcher-registry.ts";
import { scopesForWatcher } from "#shared/fanout/change-routing.ts";
import type { WatcherChannel, WatcherChannels } from "./watcher-channels.ts";

interface WatcherItem extends WatcherRegistration {
  readonly pk: string;
  readonly sk: string;
  readonly channel: WatcherChannel;
  /** The owner's principal; absent on records written before ownership existed (anyone may take them). */
  readonly owner?: string;
  /** Whether the record holds one of its owner's capped slots. */
  readonly counted?: boolean;
  /** Bumped by every write; absent on records written before revisions existed. */
  readonly revision?: number;
  readonly removingSinceMs?: number;
  /** Recent acknowledgements (oldest first) and how many were ever recorded; see acknowledge. */
  readonly acks?: readonly WatcherAck[];
  readonly ackCount?: number;
}

/** Watcher records' partition keys start with this (owner counters do not). */
export const WATCHER_KEY_PREFIX = "watcher#";
const SORT_KEY = "#watcher";
const COUNTER_SORT_KEY = "#count";
/** A removal claim this old was abandoned by a remover that crashed. */
const CLAIM_STALE_MS = 5 * 60_000;
/** What a caller that lost a race waits before retrying. */
const RACE_RETRY_SECONDS = 1;

export interface ChannelWatcherRegistryOptions {
  readonly now?: () => number;
  /** How long a registration lives without a refresh (default 1 h). */
  readonly ttlSeconds?: number;
  /** How long appliedWatermarks reuses its scan (/v1/stats may be polled); default 0: always scan. */
  readonly watermarksCacheMs?: number;
}

export class ChannelWatcherRegistry implements WatcherRegistry {
  readonly #channels: WatcherChannels;
  readonly #documents: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #watermarksCacheMs: number;
  #watermarks: { atMs: number; applied: Promise<WatcherApplied[]> } | undefined;

  constructor(
    channels: WatcherChannels,
    documents: DynamoDBDocumentClient,
    tableName: string,
    options: ChannelWatcherRegistryOptions = {},
  ) {
    this.#channels = channels;
    this.#documents = documents;
    this.#tableName = tableName;
    this.#now = options.now ?? Date.now;
    this.#ttlMs = (options.ttlSeconds ?? DEFAULT_WATCHER_TTL_SECONDS) * 1000;
    this.#watermarksCacheMs = options.watermarksCacheMs ?? 0;
  }

  async register(request: WatcherRequest, owner: WatcherOwner): Promise<WatcherRegistration> {
    const previous = await this.#item(request.node);
    if (previous?.removingSinceMs !== undefined)
      throw new WatcherBusyError(
        `the watcher of node ${request.node} is being removed`,
        QUEUE_NAME_REUSE_SECONDS,
      );
    if (previous?.owner !== undefined && previous.owner !== owner.principal)
      throw new WatcherOwnedElsewhereError(`node ${request.node} is registered by another principal`);
    const counted = previous === undefined ? owner.cap !== undefined : previous.counted === true;
    if (previous === undefined && owner.cap !== undefined && (await this.#held(owner)) >= owner.cap)
      throw capExceeded(owner);

    const zoneOnly = request.zoneOnly ?? false;
    const scopes = scopesForWatcher(request.kinds, request.zone, zoneOnly);
    const channel = await this.#channels.open(request.node, scopes, previous?.channel);
    const now = this.#now();
    const registration: WatcherRegistration = {
      node: request.node,
      zone: request.zone,
      kinds: [...request.kinds],
      zoneOnly,
      queueUrl: channel.queueUrl,
      registeredAtMs: previous?.registeredAtMs ?? now,
      expiresAtMs: now + this.#ttlMs,
      queueRetentionSeconds: WATCHER_QUEUE_RETENTION_SECONDS,
    };
    const item: WatcherItem = {
      pk: partitionKey(request.node),
      sk: SORT_KEY,
      ...registration,
      channel,
      owner: owner.principal,
      counted,
      revision: (previous?.revision ?? 0) + 1,
      // Re-registering keeps the node's acknowledgement history (the convergence reads it).
      ...(previous?.acks === undefined ? {} : { acks: previous.acks, ackCount: previous.ackCount ?? 0 }),
    };
    if (previous === undefined) await this.#create(item, owner);
    else await this.#replace(item, previous);
    return registration;
  }

  async deregister(node: string, owner: WatcherOwner): Promise<boolean> {
    const item = await this.#item(node);
    if (item === undefined) return false;
    if (item.owner !== undefined && item.owner !== owner.principal && !owner.admin)
      throw new WatcherOwnedElsewhereError(`node ${node} is registered by another principal`);
    if (await this.#remove(item)) return true;
    const now = await this.#item(node);
    if (now === undefined || now.removingSinceMs !== undefined) return true;
    throw new WatcherBusyError(`the watcher of node ${node} changed meanwhile`, RACE_RETRY_SECONDS);
  }

  async get(node: string): Promise<WatcherRegistration | undefined> {
    const item = await this.#item(node);
    return item === undefined || !this.#live(item) ? undefined : registrationOf(item);
  }

  async refresh(node: string, owner: WatcherOwner): Promise<WatcherRegistration | undefined> {
    const item = await this.#item(node);
    if (item === undefined || !this.#live(item)) return undefined;
    if (item.owner !== owner.principal) return registrationOf(item);
    const now = this.#now();
    try {
      const updated = await this.#updateRecord(item, {
        UpdateExpression: "SET expiresAtMs = :expires, revision = :next",
        ConditionExpression: `${revisionIs(item)} AND attribute_not_exists(removingSinceMs) AND expiresAtMs > :now`,
        ExpressionAttributeValues: {
          ":expires": now + this.#ttlMs,
          ":next": (item.revision ?? 0) + 1,
          ":now": now,
          ...(item.revision === undefined ? {} : { ":revision": item.revision }),
        },
        ReturnValues: "ALL_NEW",
      });
      return registrationOf(updated.Attributes as WatcherItem);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // A registration or a removal won the race: answer with what is there now.
      return this.get(node);
    }
  }

  /**
   * Appends to the record's acknowledgement history, conditionally on the history it read
   * (`ackCount`), on its owner and on its liveness. An acknowledgement does not bump `revision`:
   * a heartbeat racing it must not lose. One that loses to a concurrent one reads again, once.
   */
  async acknowledge(
    node: string,
    owner: WatcherOwner,
    appliedThroughMs: number,
  ): Promise<WatcherApplied | undefined> {
    for (let attempt = 0; ; attempt++) {
      const item = await this.#item(node);
      if (item === undefined || !this.#live(item)) return undefined;
      if (item.owner !== undefined && item.owner !== owner.principal)
        throw new WatcherOwnedElsewhereError(`node ${node} is registered by another principal`);
      const now = this.#now();
      const history = { acks: item.acks ?? [], ackCount: item.ackCount ?? 0 };
      const next = withAck(history, { appliedThroughMs, atMs: now });
      if (next === undefined) return appliedOf(item);
      try {
        await this.#updateRecord(item, {
          UpdateExpression: "SET acks = :acks, ackCount = :count",
          ConditionExpression: `${item.ackCount === undefined ? "attribute_not_exists(ackCount)" : "ackCount = :read"} AND ${item.owner === undefined ? "attribute_not_exists(#owner)" : "#owner = :owner"} AND attribute_not_exists(removingSinceMs) AND expiresAtMs > :now`,
          ExpressionAttributeNames: { "#owner": "owner" },
          ExpressionAttributeValues: {
            ":acks": next.acks,
            ":count": next.ackCount,
            ":now": now,
            ...(item.ackCount === undefined ? {} : { ":read": item.ackCount }),
            ...(item.owner === undefined ? {} : { ":owner": item.owner }),
          },
        });
        return { node, registeredAtMs: item.registeredAtMs, ...next };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        if (attempt > 0)
          throw new WatcherBusyError(`the watcher of node ${node} changed meanwhile`, RACE_RETRY_SECONDS);
      }
    }
  }

  /** A scan of the watcher records (a few thousand small items), live ones only; reused for watermarksCacheMs. */
  appliedWatermarks(): Promise<WatcherApplied[]> {
    const now = this.#now();
    const cached = this.#watermarks;
    if (cached !== undefined && now - cached.atMs < this.#watermarksCacheMs) return cached.applied;
    const applied = this.#scanWatermarks();
    this.#watermarks = { atMs: now, applied };
    applied.catch(() => {
      if (this.#watermarks?.applied === applied) this.#watermarks = undefined;
    });
    return applied;
  }

  async #scanWatermarks(): Promise<WatcherApplied[]> {
    const applied: WatcherApplied[] = [];
    for await (const page of scanPages(this.#documents, {
      TableName: this.#tableName,
      FilterExpression: "begins_with(pk, :prefix)",
      ExpressionAttributeValues: { ":prefix": WATCHER_KEY_PREFIX },
    }))
      for (const item of (page.Items ?? []) as WatcherItem[])
        if (this.#live(item)) applied.push(appliedOf(item));
    return applied;
  }

  async sweepExpired(): Promise<number> {
    const now = this.#now();
    let swept = 0;
    for await (const page of scanPages(this.#documents, {
      TableName: this.#tableName,
      ConsistentRead: true,
      FilterExpression:
        "begins_with(pk, :prefix) AND (attribute_not_exists(expiresAtMs) OR expiresAtMs <= :now OR removingSinceMs < :stale)",
      ExpressionAttributeValues: {
        ":prefix": WATCHER_KEY_PREFIX,
        ":now": now,
        ":stale": now - CLAIM_STALE_MS,
      },
    }))
      for (const item of (page.Items ?? []) as WatcherItem[]) if (await this.#remove(item)) swept++;
    return swept;
  }

  #live(item: WatcherItem): boolean {
    return (
      item.removingSinceMs === undefined && item.expiresAtMs !== undefined && item.expiresAtMs > this.#now()
    );
  }

  async #create(item: WatcherItem, owner: WatcherOwner): Promise<void> {
    const put = {
      TableName: this.#tableName,
      Item: withoutUndefined(item),
      ConditionExpression: "attribute_not_exists(pk)",
    };
    try {
      if (item.counted !== true) {
        await this.#documents.send(new PutCommand(put));
        return;
      }
      await this.#documents.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: put },
            {
              Update: {
                TableName: this.#tableName,
                Key: counterKey(owner.principal),
                UpdateExpression: "SET principal = :principal ADD held :one",
                ConditionExpression: "attribute_not_exists(held) OR held < :cap",
                ExpressionAttributeValues: { ":principal": owner.principal, ":one": 1, ":cap": owner.cap },
              },
            },
          ],
        }),
      );
    } catch (error) {
      const reasons = cancellationCodes(error);
      if (reasons[1] === "ConditionalCheckFailed") {
        // Our channel serves nobody unless a concurrent registration of the node recorded it.
        if ((await this.#item(item.node)) === undefined) await this.#channels.close(item.channel);
        throw capExceeded(owner);
      }
      if (isConditionFailure(error) || reasons[0] === "ConditionalCheckFailed")
        throw new WatcherBusyError(`node ${item.node} was registered meanwhile`, RACE_RETRY_SECONDS);
      throw error;
    }
  }

  async #replace(item: WatcherItem, previous: WatcherItem): Promise<void> {
    try {
      await this.#documents.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: withoutUndefined(item),
          ConditionExpression: `${revisionIs(previous)} AND attribute_not_exists(removingSinceMs)`,
          ...(previous.revision === undefined
            ? {}
            : { ExpressionAttributeValues: { ":revision": previous.revision } }),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new WatcherBusyError(`the watcher of node ${item.node} changed meanwhile`, RACE_RETRY_SECONDS);
    }
  }

  /** Claim, close the channel, delete (and free the owner's slot); false when another writer won the claim. */
  async #remove(item: WatcherItem): Promise<boolean> {
    const now = this.#now();
    const claimed = (item.revision ?? 0) + 1;
    try {
      await this.#updateRecord(item, {
        UpdateExpression: "SET removingSinceMs = :now, revision = :claimed",
        ConditionExpression: `${revisionIs(item)} AND (attribute_not_exists(removingSinceMs) OR removingSinceMs < :stale)`,
        ExpressionAttributeValues: {
          ":now": now,
          ":claimed": claimed,
          ":stale": now - CLAIM_STALE_MS,
          ...(item.revision === undefined ? {} : { ":revision": item.revision }),
        },
      });
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    await this.#channels.close(item.channel);
    const remove = {
      TableName: this.#tableName,
      Key: { pk: item.pk, sk: SORT_KEY },
      ConditionExpression: "revision = :claimed",
      ExpressionAttributeValues: { ":claimed": claimed },
    };
    if (item.counted === true && item.owner !== undefined)
      await this.#documents.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: remove },
            {
              Update: {
                TableName: this.#tableName,
                Key: counterKey(item.owner),
                UpdateExpression: "ADD held :minusOne",
                ExpressionAttributeValues: { ":minusOne": -1 },
              },
            },
          ],
        }),
      );
    else await this.#documents.send(new DeleteCommand(remove));
    return true;
  }

  async #held(owner: WatcherOwner): Promise<number> {
    const result = await this.#documents.send(
      new GetCommand({ TableName: this.#tableName, Key: counterKey(owner.principal), ConsistentRead: true }),
    );
    return Number(result.Item?.held ?? 0);
  }

  /** An UpdateItem of the watcher's record (the key is the record's own). */
  #updateRecord(item: WatcherItem, update: Omit<UpdateCommandInput, "TableName" | "Key">) {
    return this.#documents.send(
      new UpdateCommand({ TableName: this.#tableName, Key: { pk: item.pk, sk: SORT_KEY }, ...update }),
    );
  }

  async #item(node: string): Promise<WatcherItem | undefined> {
    const result = await this.#documents.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { pk: partitionKey(node), sk: SORT_KEY },
        ConsistentRead: true,
      }),
    );
    return result.Item as WatcherItem | undefined;
  }
}

function registrationOf(item: WatcherItem): WatcherRegistration {
  return {
    node: item.node,
    zone: item.zone,
    kinds: item.kinds,
    zoneOnly: item.zoneOnly,
    queueUrl: item.queueUrl,
    registeredAtMs: item.registeredAtMs,
    expiresAtMs: item.expiresAtMs,
    queueRetentionSeconds: item.queueRetentionSeconds ?? WATCHER_QUEUE_RETENTION_SECONDS,
  };
}

function appliedOf(item: WatcherItem): WatcherApplied {
  return {
    node: item.node,
    registeredAtMs: item.registeredAtMs,
    acks: item.acks ?? [],
    ackCount: item.ackCount ?? 0,
  };
}

function capExceeded(owner: WatcherOwner): WatcherCapExceededError {
  return new WatcherCapExceededError(
    `${owner.principal} holds ${owner.cap ?? 0} live watcher registrations, its cap: deregister one or let it expire`,
  );
}

/** The condition that the record is still at the revision it was read at. */
function revisionIs(item: WatcherItem): string {
  return item.revision === undefined ? "attribute_not_exists(revision)" : "revision = :revision";
}

function isConditionFailure(error: unknown): boolean {
  return (error as Error).name === "ConditionalCheckFailedException";
}

/** TransactionCanceledException's reasons, one per item ("None" where that item was fine). */
function cancellationCodes(error: unknown): Array<string | undefined> {
  if ((error as Error).name !== "TransactionCanceledException") return [];
  const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
  return reasons.map((reason) => reason.Code);
}

/** The document client rejects undefined attributes; an absent zone is simply not stored. */
function withoutUndefined<T extends object>(item: T): T {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined)) as T;
}

function partitionKey(node: string): string {
  return `${WATCHER_KEY_PREFIX}${node}`;
}

/** Principals can be long ARNs: the counter is keyed by their hash and names them in `principal`. */
function counterKey(principal: string): { pk: string; sk: string } {
  return { pk: `owner#${createHash("sha256").update(principal).digest("hex")}`, sk: COUNTER_SORT_KEY };
}
