/**
 * Reads the change log (written by change-log-writer.ts) for a watch: a Query on each of a kind's
 * shard partitions from just above a resourceVersion, merged in (resourceVersion, key) order, the
 * order of one partition's sort key. Entries past their expiry that DynamoDB's TTL has not removed
 * yet (it may take days) are left out, so retention is exact.
 *
 * A shard whose read stopped short (its page size) cuts the merge: only entries up to the last
 * sort key that shard read are returned, with `more`, so what comes back is every entry of the
 * kind up to a point, as the single partition's pages were, and the watch reads on from there.
 */
import type { ChangeLogPage, ChangeLogReader } from "#shared/api/watch-stream.ts";
import { TABLE_KEYS } from "#shared/config/resources.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { ChangeLogEntry } from "#shared/fanout/change-log.ts";
import type { WatchEventType } from "#shared/fanout/change-routing.ts";
import { storedObjectJson } from "#shared/fanout/stored-object.ts";
import { changeLogPks, changeLogSk } from "./items.ts";
import { queryPages } from "./paginate.ts";
import { compareUtf8 } from "./shard-merge.ts";
import type { StateTableAccess } from "./state-table.ts";

/** About this many entries per read: a watch far behind catches up over several polls. */
const READ_LIMIT = 1_000;

export interface DynamoChangeLogReaderOptions extends StateTableAccess {
  readonly now?: () => number;
}

export class DynamoChangeLogReader implements ChangeLogReader {
  readonly #options: DynamoChangeLogReaderOptions;

  constructor(options: DynamoChangeLogReaderOptions) {
    this.#options = options;
  }

  async readSince(kind: OutputKind, after: string): Promise<ChangeLogPage> {
    const nowSeconds = (this.#options.now ?? Date.now)() / 1000;
    const from = changeLogSk((BigInt(after) + 1n).toString(), "");
    const partitions = changeLogPks(kind);
    // Each shard holds about its share of a kind's entries: reading that share of the limit from
    // each keeps a read near READ_LIMIT entries.
    const shardLimit = Math.ceil(READ_LIMIT / partitions.length);
    const shards = await Promise.all(
      partitions.map((pk) => this.#readShard(pk, from, shardLimit, nowSeconds)),
    );
    let cut: string | undefined;
    for (const shard of shards) {
      if (shard.lastReadSk !== undefined && (cut === undefined || compareUtf8(shard.lastReadSk, cut) < 0))
        cut = shard.lastReadSk;
    }
    const merged = shards
      .flatMap((shard) => shard.items)
      .filter((item) => cut === undefined || compareUtf8(String(item[TABLE_KEYS.sortKey]), cut) <= 0)
      .sort((a, b) => compareUtf8(String(a[TABLE_KEYS.sortKey]), String(b[TABLE_KEYS.sortKey])));
    return { entries: merged.map((item) => entryOf(kind, item)), more: cut !== undefined };
  }

  /**
   * One shard's live items from `from`, pages of `limit` until that many are read or the shard
   * ends; `lastReadSk` is the last sort key read (expired items included) when it did not end.
   */
  async #readShard(
    pk: string,
    from: string,
    limit: number,
    nowSeconds: number,
  ): Promise<{ items: Record<string, unknown>[]; lastReadSk: string | undefined }> {
    const items: Record<string, unknown>[] = [];
    let lastReadSk: string | undefined;
    // Expired items are read and skipped, so a read past a stretch of them may return up to
    // twice the limit.
    for await (const page of queryPages(this.#options.documents, {
      TableName: this.#options.stateTable,
      KeyConditionExpression: "#pk = :pk AND #sk >= :from",
      ExpressionAttributeNames: { "#pk": TABLE_KEYS.partitionKey, "#sk": TABLE_KEYS.sortKey },
      ExpressionAttributeValues: { ":pk": pk, ":from": from },
      Limit: limit,
    })) {
      for (const item of page.Items ?? []) {
        const expiresAt = Number(item[TABLE_KEYS.timeToLive]);
        if (Number.isFinite(expiresAt) && expiresAt <= nowSeconds) continue;
        items.push(item);
      }
      const last = page.LastEvaluatedKey?.[TABLE_KEYS.sortKey];
      lastReadSk = last === undefined ? undefined : String(last);
      if (items.length >= limit) break;
    }
    return { items, lastReadSk };
  }
}

function entryOf(kind: OutputKind, item: Record<string, unknown>): ChangeLogEntry {
  return {
    kind,
    type: item.type as WatchEventType,
    resourceVersion: String(item.resourceVersion),
    key: String(item.key),
    namespace: typeof item.namespace === "string" ? item.namespace : undefined,
    object: JSON.parse(storedObjectJson(item)) as OutputObject,
    previousLabels:
      typeof item.previousLabels === "string"
        ? (JSON.parse(item.previousLabels) as Record<string, string>)
        : undefined,
  };
}
