/**
 * How many watchers are registered, for the write budget: counted from the watchers table at most
 * once per refresh interval (a COUNT scan of a few thousand small items), read synchronously.
 */
import { type DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";

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
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#documents.send(
        new ScanCommand({ TableName: this.#tableName, Select: "COUNT", ExclusiveStartKey: startKey }),
      );
      count += page.Count ?? 0;
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    this.#count = count;
    this.#countedAtMs = nowMs;
    return count;
  }
}
