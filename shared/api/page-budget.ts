/**
 * What one list request may cost, whatever the caller asks: items read from storage, items
 * returned, and bytes of body. A Lambda response is at most 6 MB (the body as a JSON string inside
 * the response envelope), and a selector that matches nothing must not read a whole index. When a
 * budget runs out the page ends early with a continue token, as the apiserver may end a page: a
 * page can hold fewer than `limit` items, even none, and still carry a continue token. Clients that
 * page (kubectl's chunked lists, code following metadata.continue) read on from there.
 *
 * PageCollector is the one place both readers apply the budget, item by item in storage order.
 */
import type { OutputObject } from "#shared/core/output-changes.ts";

export interface PageBudget {
  /** `limit` is clamped to this, and a list without a limit gets at most this many items. */
  readonly maxLimit: number;
  /** Items read from storage per request, matching or not (bounds read capacity and latency). */
  readonly maxItemsScanned: number;
  /** Body bytes per page, counted as they travel in the Lambda response (see responseBytes). */
  readonly maxPageBytes: number;
}

export const DEFAULT_PAGE_BUDGET: PageBudget = {
  maxLimit: 1000,
  maxItemsScanned: 2000,
  // 4 MiB of items leaves room under Lambda's 6 MB for the list envelope and Table cells.
  maxPageBytes: 4 * 1024 * 1024,
};

/** Per-object allowance for what a list adds around it (a Table row's cells, separators). */
const PER_ITEM_OVERHEAD_BYTES = 512;

/**
 * The bytes an object's JSON costs in a Lambda response: its UTF-8 size plus one more byte for
 * every character JSON escapes again when the body becomes a string in the response envelope.
 */
export function responseBytes(json: string): number {
  let escaped = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c < 0x20) escaped++;
  }
  return Buffer.byteLength(json, "utf8") + escaped + PER_ITEM_OVERHEAD_BYTES;
}

/** limit as the page will honour it: undefined or 0 (everything) and huge values become maxLimit. */
export function clampLimit(limit: number | undefined, budget: PageBudget): number {
  if (limit === undefined || !Number.isFinite(limit) || limit <= 0) return budget.maxLimit;
  return Math.min(Math.floor(limit), budget.maxLimit);
}

export type Offer = "taken" | "skipped" | "refused";

/**
 * Collects one page from items offered in storage order. The caller resumes after the key of the
 * last item whose offer was "taken" or "skipped"; a "refused" item was not consumed (it starts the
 * next page). `done` says the page must end now.
 */
export class PageCollector {
  readonly items: OutputObject[] = [];
  readonly limit: number;
  readonly #budget: PageBudget;
  #scanned = 0;
  #bytes = 0;
  #ended = false;

  constructor(limit: number | undefined, budget: PageBudget = DEFAULT_PAGE_BUDGET) {
    this.limit = clampLimit(limit, budget);
    this.#budget = budget;
  }

  /** Items still allowed to be read from storage. */
  get scanAllowance(): number {
    return Math.max(0, this.#budget.maxItemsScanned - this.#scanned);
  }

  get done(): boolean {
    return this.#ended || this.items.length >= this.limit || this.scanAllowance === 0;
  }

  /**
   * One item read from storage: `object` if it matches the query, undefined if not, with the bytes
   * of its JSON. The first match of a page is always taken, so every page makes progress.
   */
  offer(object: OutputObject | undefined, json: string): Offer {
    if (this.done) return "refused";
    if (object === undefined) {
      this.#scanned++;
      return "skipped";
    }
    const bytes = responseBytes(json);
    if (this.items.length > 0 && this.#bytes + bytes > this.#budget.maxPageBytes) {
      // Ends the page: the item starts the next one.
      this.#ended = true;
      return "refused";
    }
    this.#scanned++;
    this.#bytes += bytes;
    this.items.push(object);
    return "taken";
  }
}
