/**
 * A namespace group's tombstones in deletion order, so sweeping them costs only what it removes:
 * the queue is consumed from its head, and the consumed prefix dropped now and then, so it stays
 * proportional to the live tombstones.
 */
export interface TombstoneRef {
  readonly kind: "Pod" | "Service";
  readonly name: string;
  readonly deletedAtMs: number;
}

export class TombstoneQueue {
  #queue: TombstoneRef[] = [];
  #head = 0;

  /** Deletions arrive in time order, so pushing keeps the queue sorted. */
  push(ref: TombstoneRef): void {
    this.#queue.push(ref);
  }

  /** Tombstones read back from storage, in any order. */
  restore(refs: Iterable<TombstoneRef>): void {
    this.#queue = [...this.#queue.slice(this.#head), ...refs].sort((a, b) => a.deletedAtMs - b.deletedAtMs);
    this.#head = 0;
  }

  /**
   * Takes the tombstones past their retention, oldest first. An entry may be stale (the object was
   * recreated, or deleted again later): the caller checks it against the object's current entry.
   */
  takeDue(nowMs: number, retentionMs: number): TombstoneRef[] {
    const due: TombstoneRef[] = [];
    for (;;) {
      const oldest = this.#queue[this.#head];
      if (oldest === undefined || nowMs - oldest.deletedAtMs < retentionMs) break;
      this.#head++;
      due.push(oldest);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return due;
  }
}
