/**
 * Reads the change log (written by change-log-writer.ts) for a watch: one Query on a kind's
 * partition from just above a resourceVersion. Entries past their expiry that DynamoDB's TTL has
 * not removed yet (it may take days) are left out, so retention is exact.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { ChangeLogPage, ChangeLogReader } from "#shared/api/watch-stream.ts";
import { TABLE_KEYS } from "#shared/config/resources.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { ChangeLogEntry } from "#shared/fanout/change-log.ts";
import type { WatchEventType } from "#shared/fanout/change-routing.ts";
import { changeLogPk, changeLogSk } from "./items.ts";
import { queryPages } from "./paginate.ts";

/** At most this many entries per read: a watch far behind catches up over several polls. */
const READ_LIMIT = 1_000;

export interface DynamoChangeLogReaderOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly stateTable: string;
  readonly now?: () => number;
}

export class DynamoChangeLogReader implements ChangeLogReader {
  readonly #options: DynamoChangeLogReaderOptions;

  constructor(options: DynamoChangeLogReaderOptions) {
    this.#options = options;
  }

  async readSince(kind: OutputKind, after: string): Promise<ChangeLogPage> {
    const nowSeconds = (this.#options.now ?? Date.now)() / 1000;
    const entries: ChangeLogEntry[] = [];
    let more = false;
    // Pages of READ_LIMIT items, until the entries reach it: expired entries are read and skipped,
    // so a read past a stretch of them may return up to twice the limit.
    for await (const page of queryPages(this.#options.documents, {
      TableName: this.#options.stateTable,
      KeyConditionExpression: "#pk = :pk AND #sk >= :from",
      ExpressionAttributeNames: { "#pk": TABLE_KEYS.partitionKey, "#sk": TABLE_KEYS.sortKey },
      ExpressionAttributeValues: {
        ":pk": changeLogPk(kind),
        ":from": changeLogSk((BigInt(after) + 1n).toString(), ""),
      },
      Limit: READ_LIMIT,
    })) {
      for (const item of page.Items ?? []) {
        const expiresAt = Number(item[TABLE_KEYS.timeToLive]);
        if (Number.isFinite(expiresAt) && expiresAt <= nowSeconds) continue;
        entries.push(entryOf(kind, item));
      }
      more = page.LastEvaluatedKey !== undefined;
      if (entries.length >= READ_LIMIT) break;
    }
    return { entries, more };
  }
}

function entryOf(kind: OutputKind, item: Record<string, unknown>): ChangeLogEntry {
  return {
    kind,
    type: item.type as WatchEventType,
    resourceVersion: String(item.resourceVersion),
    key: String(item.key),
    namespace: typeof item.namespace === "string" ? item.namespace : undefined,
    object: JSON.parse(String(item.object)) as OutputObject,
    previousLabels:
      typeof item.previousLabels === "string"
        ? (JSON.parse(item.previousLabels) as Record<string, string>)
        : undefined,
  };
}
