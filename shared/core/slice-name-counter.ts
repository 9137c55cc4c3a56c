/**
 * Where the numbers in new slice names come from (EndpointSlices: slice-names.ts; CiliumEndpointSlices:
 * ciliumendpointslice/namespace-slices.ts): one counter per kind and namespace group, stored with
 * the group.
 *
 * A number is never handed out twice, not even after its slice was deleted. A watcher keeps a
 * deleted slice's tombstone at its last resourceVersion, and the hybrid clock (revision-clock.ts)
 * orders versions only along one object's history: a new slice under a reused name could get an
 * older version than that tombstone and be dropped as stale. And it is stored rather than derived
 * from the live names, because a group reloaded from storage (a cold Lambda) must name slices
 * exactly as the long-lived group (a warm one) does: the final state may not depend on which ran.
 */
export class SliceNameCounter {
  #last: number;

  /** `last`: the last number handed out (0: none yet). */
  constructor(last = 0) {
    this.#last = last;
  }

  /** The last number handed out: what a store keeps. */
  get last(): number {
    return this.#last;
  }

  take(): number {
    return ++this.#last;
  }

  /**
   * A number found in a stored name is taken. With the stored counter this changes nothing; it
   * matters for a group stored before the counter was, which continues after its live names.
   */
  reserve(number: number): void {
    if (number > this.#last) this.#last = number;
  }
}
