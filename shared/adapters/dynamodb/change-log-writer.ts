/**
 * Appends change-log entries to the state table (items documented in
 * shared/config/table-schemas.ts) with BatchWriteItem, retrying what DynamoDB leaves unprocessed.
 * The reading side is change-log-reader.ts, a file of its own so each handler's bundle holds only
 * the command it is granted.
 */
import { BatchWriteCommand } from "@aws-sdk/lib-dynamodb";
import {
  CHANGE_LOG_RETENTION_MS,
  type ChangeLogEntry,
  type ChangeLogWriter,
} from "#shared/fanout/change-log.ts";
import { changeLogItem, changeLogSk } from "./items.ts";
import type { StateTableAccess } from "./state-table.ts";

const BATCH_LIMIT = 25;
const ATTEMPTS = 6;

export class ChangeLogNotWrittenError extends Error {
  override name = "ChangeLogNotWrittenError";
}

export interface DynamoChangeLogWriterOptions extends StateTableAccess {
  readonly sleep?: (ms: number) => Promise<void>;
}

export class DynamoChangeLogWriter implements ChangeLogWriter {
  readonly #options: DynamoChangeLogWriterOptions;

  constructor(options: DynamoChangeLogWriterOptions) {
    this.#options = options;
  }

  async append(entries: readonly ChangeLogEntry[], nowMs: number): Promise<void> {
    // One item per key: a batch may not name an item twice (a retried record, coalesced changes).
    const items = new Map<string, Record<string, unknown>>();
    const expiresAt = Math.ceil((nowMs + CHANGE_LOG_RETENTION_MS) / 1000) + 60;
    for (const entry of entries) {
      const sk = changeLogSk(entry.resourceVersion, entry.key);
      items.set(`${entry.kind} ${sk}`, changeLogItem(entry, expiresAt));
    }
    const all = [...items.values()];
    // The batches concurrently: one after another they were most of a fan-out invocation's time,
    // and the entries are independent items (a failure of any still fails the append).
    const batches: Record<string, unknown>[][] = [];
    for (let i = 0; i < all.length; i += BATCH_LIMIT) batches.push(all.slice(i, i + BATCH_LIMIT));
    await Promise.all(batches.map((batch) => this.#write(batch)));
  }

  async #write(items: Record<string, unknown>[]): Promise<void> {
    const sleep = this.#options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    let requests = items.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; attempt < ATTEMPTS && requests.length > 0; attempt++) {
      if (attempt > 0) await sleep(Math.min(1_000, 25 * 2 ** attempt));
      const result = await this.#options.documents.send(
        new BatchWriteCommand({ RequestItems: { [this.#options.stateTable]: requests } }),
      );
      requests = (result.UnprocessedItems?.[this.#options.stateTable] ?? []) as typeof requests;
    }
    if (requests.length > 0)
      throw new ChangeLogNotWrittenError(`${requests.length} change-log entries left unprocessed`);
  }
}
