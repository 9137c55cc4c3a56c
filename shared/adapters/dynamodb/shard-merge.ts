/**
 * Items of several index partitions (the kind index's shards) in one order, as if they were one
 * partition: each shard is read in pages of its own and the smallest head among them comes next.
 * The order is the index's sort key (nsName), then the item's table key (pk, sk) to break ties,
 * each compared as DynamoDB compares strings (UTF-8 bytes). A merge can start after a position
 * (a continue token's key): every shard is read from that sort key on, and items at or before the
 * position are skipped.
 *
 * Reads are bounded: a merge reads at most `maxReads` items in all (a list's page budget). Knowing
 * the next item takes a head from every shard, so a merge that would need more stops instead
 * (`stoppedByBudget`), and the caller ends its page there.
 */
import type { Item } from "./items.ts";

/** Where an item sits in the merged order. */
export interface MergePosition {
  readonly sortKey: string;
  readonly pk: string;
  readonly sk: string;
}

/** One page of one shard: items in sort-key order, and where the next page starts. */
export interface ShardPage {
  readonly items: readonly Item[];
  readonly lastEvaluatedKey: Record<string, unknown> | undefined;
}

/** Reads a page of a shard: `from` the position's sort key (inclusive) or `startKey`, `limit` items. */
export type ShardReader = (
  shard: string,
  page: {
    readonly from: string | undefined;
    readonly startKey: Record<string, unknown> | undefined;
    readonly limit: number;
  },
) => Promise<ShardPage>;

interface Cursor {
  readonly shard: string;
  buffer: Item[];
  startKey: Record<string, unknown> | undefined;
  started: boolean;
  ended: boolean;
}

export class ShardMerge {
  readonly #cursors: Cursor[];
  readonly #read: ShardReader;
  readonly #sortKey: string;
  readonly #after: MergePosition | undefined;
  #readsLeft: number;
  #stoppedByBudget = false;

  constructor(options: {
    readonly shards: readonly string[];
    readonly read: ShardReader;
    /** The attribute the shards are sorted by. */
    readonly sortKey: string;
    readonly after?: MergePosition | undefined;
    /** Items the merge may read in all; default unbounded. */
    readonly maxReads?: number;
  }) {
    this.#readsLeft = options.maxReads ?? Number.POSITIVE_INFINITY;
    this.#cursors = options.shards.map((shard) => ({
      shard,
      buffer: [],
      startKey: undefined,
      started: false,
      ended: false,
    }));
    this.#read = options.read;
    this.#sortKey = options.sortKey;
    this.#after = options.after;
  }

  /**
   * The next item, read as needed with up to `limit` items per shard page; undefined at the end,
   * or when the read budget cannot cover a head from every shard that needs one.
   */
  async peek(limit: number): Promise<Item | undefined> {
    for (;;) {
      const empty = this.#cursors.filter((cursor) => cursor.buffer.length === 0 && !cursor.ended);
      if (empty.length === 0) return this.#smallest()?.buffer[0];
      const share = Math.min(limit, Math.floor(this.#readsLeft / empty.length));
      if (share < 1) {
        this.#stoppedByBudget = true;
        return undefined;
      }
      await Promise.all(empty.map((cursor) => this.#readPage(cursor, share)));
    }
  }

  /** The last peek ended on the read budget, not at the end of the shards. */
  get stoppedByBudget(): boolean {
    return this.#stoppedByBudget;
  }

  /** Consumes the item peek returned. */
  advance(): void {
    this.#smallest()?.buffer.shift();
  }

  /** False once every shard is read to its end and every item consumed (no read needed to know). */
  get mayHaveMore(): boolean {
    return this.#cursors.some((cursor) => cursor.buffer.length > 0 || !cursor.ended);
  }

  positionOf(item: Item): MergePosition {
    return { sortKey: String(item[this.#sortKey]), pk: String(item.pk), sk: String(item.sk) };
  }

  /** One page of a shard; items at or before the start position are dropped. */
  async #readPage(cursor: Cursor, limit: number): Promise<void> {
    const page = await this.#read(cursor.shard, {
      from: cursor.started ? undefined : this.#after?.sortKey,
      startKey: cursor.startKey,
      limit,
    });
    this.#readsLeft -= page.items.length;
    cursor.started = true;
    const after = this.#after;
    cursor.buffer =
      after === undefined
        ? [...page.items]
        : page.items.filter((item) => comparePositions(this.positionOf(item), after) > 0);
    cursor.startKey = page.lastEvaluatedKey;
    if (page.lastEvaluatedKey === undefined) cursor.ended = true;
  }

  #smallest(): Cursor | undefined {
    let best: Cursor | undefined;
    for (const cursor of this.#cursors) {
      const head = cursor.buffer[0];
      if (head === undefined) continue;
      const bestHead = best?.buffer[0];
      if (bestHead === undefined || comparePositions(this.positionOf(head), this.positionOf(bestHead)) < 0)
        best = cursor;
    }
    return best;
  }
}

export function comparePositions(a: MergePosition, b: MergePosition): number {
  return compareUtf8(a.sortKey, b.sortKey) || compareUtf8(a.pk, b.pk) || compareUtf8(a.sk, b.sk);
}

/** DynamoDB's order of string keys: their UTF-8 bytes. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
