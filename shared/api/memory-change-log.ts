/**
 * The change log in memory, for tests and in-memory runs: the same ordering and retention as the
 * DynamoDB one (shared/adapters/dynamodb/change-log-*.ts).
 */
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputKind } from "#shared/core/output-changes.ts";
import {
  CHANGE_LOG_RETENTION_MS,
  type ChangeLogEntry,
  type ChangeLogWriter,
} from "#shared/fanout/change-log.ts";
import type { ChangeLogPage, ChangeLogReader } from "./watch-stream.ts";

export class MemoryChangeLog implements ChangeLogReader, ChangeLogWriter {
  readonly #entries = new Map<string, { entry: ChangeLogEntry; expiresAtMs: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async append(entries: readonly ChangeLogEntry[], nowMs: number): Promise<void> {
    for (const entry of entries)
      this.#entries.set(`${entry.kind}/${entry.resourceVersion}/${entry.key}`, {
        entry,
        expiresAtMs: nowMs + CHANGE_LOG_RETENTION_MS,
      });
  }

  /** `pageSize` as a DynamoDB read's limit would cut it. */
  pageSize = 1_000;

  async readSince(kind: OutputKind, after: string): Promise<ChangeLogPage> {
    const now = this.#now();
    const all = [...this.#entries.values()]
      .filter(
        ({ entry, expiresAtMs }) =>
          entry.kind === kind &&
          expiresAtMs > now &&
          compareResourceVersions(entry.resourceVersion, after) > 0,
      )
      .map(({ entry }) => entry)
      .sort(
        (a, b) => compareResourceVersions(a.resourceVersion, b.resourceVersion) || (a.key < b.key ? -1 : 1),
      );
    return { entries: all.slice(0, this.pageSize), more: all.length > this.pageSize };
  }
}
