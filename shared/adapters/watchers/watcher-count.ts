/**
 * How many watchers are registered, for the write budget: counted from the watchers table at most
 * once per refresh interval (a COUNT scan of a few thousand small items), read synchronously.
 * Counts records whether live or expired-but-not-yet-swept: both still have a queue to deliver to.
 */

import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { scanPages } from "#shared/adapters/dynamodb/paginate.ts";
import { WATCHER_KEY_PREFIX } from "./channel-watcher-registry.ts";

export class CachedWatcherCount {
  readonly #documents: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #refreshMs: number;
  #count = 0;
  #countedAtMs = Number.NEGATIVE_INFINITY;

  constructor(documents: DynamoDBDocumentClient, tableName: string, refreshMs = 60_000) {
    this.#documents = documents;
    this.#tableName = tableName;
    this.#refreshMs = refreshMs;
  }

  current(): number {
    return this.#count;
  }

  async refreshIfStale(nowMs = Date.now()): Promise<number> {
    if (nowMs - this.#countedAtMs < this.#refreshMs) return this.#count;
    let count = 0;
    for await (const page of scanPages(this.#documents, {
      TableName: this.#tableName,
      Select: "COUNT",
      // Watcher records only, not the per-owner counters beside them.
      FilterExpression: "begins_with(pk, :prefix)",
      ExpressionAttributeValues: { ":prefix": WATCHER_KEY_PREFIX },
    }))
      count += page.Count ?? 0;
    this.#count = count;
    this.#countedAtMs = nowMs;
    return count;
  }
}
