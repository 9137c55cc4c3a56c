/**
 * Patches that arrived before their base. SQS standard queues reorder, so a patch on version 7 may
 * come before the change that made version 7; it is held for a short grace and applied as soon as
 * its base shows up. Only when the grace runs out is the object re-read from the API: a re-read
 * per reordering would cost one GET per watcher per reordered change.
 */
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import type { CacheObjectRef } from "./watcher-cache.ts";

export const DEFAULT_GAP_GRACE_MS = 1000;

export interface HeldGap {
  readonly ref: CacheObjectRef;
  /** When the first held change of the object arrived: the grace runs from it. */
  readonly sinceMs: number;
  /** Oldest first. */
  readonly changes: BundledChange[];
}

export class GapTracker {
  readonly #graceMs: number;
  readonly #held = new Map<string, HeldGap>();

  constructor(graceMs = DEFAULT_GAP_GRACE_MS) {
    this.#graceMs = graceMs;
  }

  hold(key: string, ref: CacheObjectRef, change: BundledChange, nowMs: number): void {
    const gap = this.#held.get(key);
    if (gap === undefined) {
      this.#held.set(key, { ref, sinceMs: nowMs, changes: [change] });
      return;
    }
    if (gap.changes.some((held) => held.resourceVersion === change.resourceVersion)) return;
    gap.changes.push(change);
    gap.changes.sort((a, b) => compareResourceVersions(a.resourceVersion, b.resourceVersion));
  }

  /** Removes and returns what is held for the object (to try again, or to resolve by a re-read). */
  take(key: string): HeldGap | undefined {
    const gap = this.#held.get(key);
    this.#held.delete(key);
    return gap;
  }

  /** Put back what could still not be applied, keeping when its grace started. */
  restore(key: string, gap: HeldGap): void {
    if (gap.changes.length > 0) this.#held.set(key, gap);
  }

  has(key: string): boolean {
    return this.#held.has(key);
  }

  /** Keys whose grace has run out at `nowMs`. */
  expired(nowMs: number): string[] {
    const keys: string[] = [];
    for (const [key, gap] of this.#held) if (nowMs - gap.sinceMs >= this.#graceMs) keys.push(key);
    return keys;
  }

  /** When the next grace runs out (undefined: nothing held). */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const gap of this.#held.values()) {
      const deadline = gap.sinceMs + this.#graceMs;
      if (next === undefined || deadline < next) next = deadline;
    }
    return next;
  }

  /** What is held, for a saved agent state. */
  entries(): HeldGap[] {
    return [...this.#held.values()];
  }

  get size(): number {
    return this.#held.size;
  }

  clear(): void {
    this.#held.clear();
  }
}
