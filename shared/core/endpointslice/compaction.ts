/**
 * sliceline's placement on top of the controller's: after long churn the controller leaves many
 * half-empty slices, because it only ever fills them with endpoints that arrive in the same sync.
 * Merging is what brings the count back down; these merges are chosen so they cost (almost) no
 * extra writes.
 */
import type { Endpoint } from "#shared/core/model.ts";
import { Draft } from "./draft.ts";
import type { GroupPlan } from "./plan.ts";
import { byName, fullestThenByName, smallestThenByName } from "./slice-order.ts";
import type { StoredSlice } from "./stored-slice.ts";

/**
 * The controller tops up an unchanged slice with a remainder even when a slice of the same address
 * type is being deleted, so one pod changing its IP alone in its slice costs a delete and an update.
 * Creating the remainder instead lets finalize write it into the slice being deleted: one write.
 */
export function hostRemaindersInDeletedSlices(plans: readonly GroupPlan[]): void {
  let spareDeletes = 0;
  for (const plan of plans) spareDeletes += plan.deletes.length - plan.creates.length;
  for (const plan of plans) {
    if (spareDeletes <= 0) return;
    const toppedUp = plan.toppedUp;
    if (toppedUp === undefined) continue;
    const created = new Draft(undefined, toppedUp, plan.ownerReferences);
    for (const [key, endpoint] of toppedUp.addedEntries()) created.set(key, endpoint);
    plan.updates.splice(plan.updates.indexOf(toppedUp), 1);
    plan.creates.push(created);
    plan.toppedUp = undefined;
    spareDeletes--;
  }
}

/**
 * Free merges: while the slices written anyway have a whole slice of room between them, the
 * smallest is emptied into the others (fullest first) and deleted. A rewrite becomes a delete, or
 * a create disappears: never more writes, one slice fewer each time. What is written ends up packed
 * into ceil(endpoints / max) slices. Equally full slices are taken in name order (slice-order.ts).
 */
export function mergeWrittenSlices(plan: GroupPlan, max: number): void {
  const smallestFirst = [...plan.updates, ...plan.creates].sort(smallestThenByName);
  let room = 0;
  for (const draft of smallestFirst) room += max - draft.size;
  // Sources are taken from the small end, targets filled from the full end; emptying one source
  // removes exactly one slice's worth of room (its free room and the room its endpoints now use).
  const targets = new RoomFiller(smallestFirst.toReversed(), max);
  for (let next = 0; room >= max && next < smallestFirst.length - 1; next++) {
    const source = smallestFirst[next] as Draft;
    room -= max;
    targets.pour(source.entries(), source);
    dropEmptied(plan, source);
  }
}

/**
 * Paid merges: an unchanged slice is emptied into the room left in the slices written anyway, at
 * the price of one delete. Only while the group holds more slices than it needs and only up to
 * `budget` times, so the extra writes stay a small share of what the sync writes anyway.
 * Smallest first, equally small ones by name. Returns how many were made.
 */
export function absorbUnchangedSlices(
  plan: GroupPlan,
  groupSlices: Iterable<StoredSlice>,
  leaving: ReadonlySet<StoredSlice>,
  max: number,
  budget: number,
): number {
  if (budget <= 0) return 0;
  const written = [...plan.updates, ...plan.creates];
  const writtenTargets = new Set<StoredSlice>();
  for (const draft of written) if (draft.target !== undefined) writtenTargets.add(draft.target);
  const deleted = new Set<StoredSlice>(plan.deletes);

  let room = 0;
  for (const draft of written) room += max - draft.size;
  const unchanged: StoredSlice[] = [];
  let sliceCount = plan.creates.length;
  let endpointCount = 0;
  for (const draft of written) endpointCount += draft.size;
  for (const slice of groupSlices) {
    if (deleted.has(slice) || leaving.has(slice)) continue;
    if (!writtenTargets.has(slice)) {
      unchanged.push(slice);
      endpointCount += slice.endpoints.size;
    }
    sliceCount++;
  }
  // Equally full slices in name order, not the group's: a reloaded group holds them in another.
  unchanged.sort((a, b) => a.endpoints.size - b.endpoints.size || byName(a, b));

  const targets = new RoomFiller(written.sort(fullestThenByName), max);
  let made = 0;
  for (const slice of unchanged) {
    if (made >= budget || sliceCount <= Math.ceil(endpointCount / max)) break;
    // Smallest first: once one does not fit, no larger one will.
    if (slice.endpoints.size > room) break;
    targets.pour(slice.endpoints.entries(), undefined);
    room -= slice.endpoints.size;
    plan.deletes.push(slice);
    sliceCount--;
    made++;
  }
  return made;
}

/** Pours endpoints into drafts in the given order (fullest first), each up to capacity. */
class RoomFiller {
  readonly #drafts: readonly Draft[];
  readonly #max: number;
  #cursor = 0;

  constructor(fullestFirst: readonly Draft[], max: number) {
    this.#drafts = fullestFirst;
    this.#max = max;
  }

  /** The caller has checked there is room for all of them; `source` itself is never a target. */
  pour(entries: Iterable<[string, Endpoint]>, source: Draft | undefined): void {
    for (const [key, endpoint] of entries) {
      let target = this.#drafts[this.#cursor] as Draft;
      while (target === source || target.size >= this.#max) target = this.#drafts[++this.#cursor] as Draft;
      target.set(key, endpoint);
    }
  }
}

function dropEmptied(plan: GroupPlan, source: Draft): void {
  source.clear();
  if (source.target === undefined) {
    plan.creates.splice(plan.creates.indexOf(source), 1);
    return;
  }
  plan.updates.splice(plan.updates.indexOf(source), 1);
  plan.deletes.push(source.target);
}
