/**
 * Versions at which a watcher saw objects deleted, so a late older copy cannot resurrect them.
 *
 * A tombstone only matters while an older copy of the object may still be on its way (the queue's
 * reordering window), so tombstones live in two generations: `rotate()` drops the older one. Called
 * every retention period, a tombstone lives between one and two periods, without a clock per entry.
 */
export class Tombstones {
  #current = new Map<string, string>();
  #previous = new Map<string, string>();

  get(key: string): string | undefined {
    return this.#current.get(key) ?? this.#previous.get(key);
  }

  set(key: string, version: string): void {
    this.#previous.delete(key);
    this.#current.set(key, version);
  }

  delete(key: string): void {
    this.#current.delete(key);
    this.#previous.delete(key);
  }

  /** Forgets the tombstones older than the last rotation; returns how many went. */
  rotate(): number {
    const dropped = this.#previous.size;
    this.#previous = this.#current;
    this.#current = new Map();
    return dropped;
  }

  /** Every tombstone, newer generation first (what a saved agent state keeps). */
  entries(): Array<[string, string]> {
    return [...this.#current, ...[...this.#previous].filter(([key]) => !this.#current.has(key))];
  }

  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }
}
