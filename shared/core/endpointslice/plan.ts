/**
 * The Kubernetes EndpointSlice controller's placement (reconcileByPortMapping and finalize in
 * k8s.io/endpointslice/reconciler.go), restated for an incremental input: only the pods that may
 * have changed are looked at, every other endpoint is known to be as desired already.
 *
 * The controller computes the full desired set and walks every slice; for slices holding no changed
 * pod that walk finds nothing to do, so skipping them gives the same result. Where the controller
 * picks by Go map order (PopAny, UnsortedList) this code picks by a fixed order instead: among
 * equally suitable slices, the first by name (slice-order.ts). Never by the order the slices are
 * held in, which is this process's history for a long-lived group and storage's order for one
 * reloaded from it: the two must place every endpoint alike.
 */
import type { AddressType, Endpoint, EndpointPort } from "#shared/core/model.ts";
import { Draft } from "./draft.ts";
import { endpointKey, endpointsEqualBeyondKey } from "./endpoint-identity.ts";
import { byName, fullestThenByName } from "./slice-order.ts";
import type { OwnerReference, StoredSlice } from "./stored-slice.ts";

/** An endpoint with its key, on its way into a slice. */
export type Placement = readonly [key: string, endpoint: Endpoint];

/** The writes for one (addressType, port set) group before finalize pairs creates with deletes. */
export interface GroupPlan {
  readonly addressType: AddressType;
  readonly portKey: string;
  readonly updates: Draft[];
  readonly creates: Draft[];
  readonly deletes: StoredSlice[];
  /** The unchanged slice step 3 topped up with the remainder (getSliceToFill), if any. */
  toppedUp: Draft | undefined;
  readonly ownerReferences: readonly OwnerReference[];
}

export interface GroupInput {
  readonly maxEndpointsPerSlice: number;
  readonly addressType: AddressType;
  readonly portKey: string;
  readonly ports: readonly EndpointPort[];
  /** Every stored slice of the group: the candidates getSliceToFill may pick from. */
  readonly groupSlices: Iterable<StoredSlice>;
  /** The owned slices that hold a changed pod or need a rewrite anyway, in a fixed order. */
  readonly touched: readonly StoredSlice[];
  /** Slices that will be deleted whatever happens (left by another Service): never filled. */
  readonly leaving: ReadonlySet<StoredSlice>;
  /** Desired endpoints of the changed pods in this group, by endpoint key. Consumed. */
  readonly desired: Map<string, Endpoint>;
  /** Endpoints of unchanged pods that lost their slice (it is leaving) and must be placed again. */
  readonly homeless: readonly Endpoint[];
  /** Keys of the endpoints of changed pods in a touched slice: the only ones step 1 may alter. */
  readonly changedKeysIn: (slice: StoredSlice) => Iterable<string>;
  readonly needsRelabel: (slice: StoredSlice) => boolean;
  readonly ownerReferences: readonly OwnerReference[];
}

export function planGroup(input: GroupInput): GroupPlan {
  const max = input.maxEndpointsPerSlice;
  const plan: GroupPlan = {
    addressType: input.addressType,
    portKey: input.portKey,
    updates: [],
    creates: [],
    deletes: [],
    toppedUp: undefined,
    ownerReferences: input.ownerReferences,
  };
  const written = new Set<StoredSlice>();
  const overflow: Placement[] = [];

  // 1. Rewrite endpoints of changed pods in place, drop the ones no longer desired.
  for (const slice of input.touched) {
    const outcome = applyPodChanges(slice, input, overflow);
    if (outcome.endpointsChanged) {
      written.add(slice);
      if (outcome.draft.size === 0) plan.deletes.push(slice);
      else plan.updates.push(outcome.draft);
    } else if (input.needsRelabel(slice)) {
      written.add(slice);
      plan.updates.push(outcome.draft);
    }
  }
  // Pods new to this group, then endpoints whose slice is leaving, then a shrunken slice's excess.
  const placing: Placement[] = [
    ...input.desired,
    ...input.homeless.map((endpoint) => [endpointKey(endpoint), endpoint] as const),
    ...overflow,
  ];
  let next = 0;

  // 2. Fill the slices that are being written anyway, fullest first (equally full: by name).
  if (placing.length > 0 && plan.updates.length > 0) {
    const fullestFirst = [...plan.updates].sort(fullestThenByName);
    for (const draft of fullestFirst) next = fill(draft, placing, next, max);
  }

  // 3. Put a remainder smaller than a slice into the unchanged slice it fills best; else create.
  while (next < placing.length) {
    const left = placing.length - next;
    let draft: Draft | undefined;
    if (left < max) {
      const slice = sliceToFill(input.groupSlices, written, input.leaving, left, max);
      if (slice !== undefined) {
        written.add(slice);
        draft = Draft.rewriting(slice);
        plan.updates.push(draft);
        plan.toppedUp = draft;
      }
    }
    if (draft === undefined) {
      draft = new Draft(undefined, input, input.ownerReferences);
      plan.creates.push(draft);
    }
    next = fill(draft, placing, next, max);
  }
  return plan;
}

interface PodChangeOutcome {
  readonly draft: Draft;
  readonly endpointsChanged: boolean;
}

function applyPodChanges(slice: StoredSlice, input: GroupInput, overflow: Placement[]): PodChangeOutcome {
  const draft = Draft.rewriting(slice);
  let endpointsChanged = slice.dirty;
  for (const key of input.changedKeysIn(slice)) {
    const current = slice.endpoints.get(key);
    const wanted = input.desired.get(key);
    if (wanted === undefined) {
      endpointsChanged = true;
      draft.delete(key);
      continue;
    }
    input.desired.delete(key);
    draft.set(key, wanted);
    if (current === undefined || !endpointsEqualBeyondKey(wanted, current)) endpointsChanged = true;
  }
  // Only a slice stored under a larger maximum can exceed it; its excess is placed like new endpoints.
  if (draft.size > input.maxEndpointsPerSlice) {
    endpointsChanged = true;
    const excess = [...draft.entries()].slice(input.maxEndpointsPerSlice);
    for (const entry of excess) {
      overflow.push(entry);
      draft.delete(entry[0]);
    }
  }
  return { draft, endpointsChanged };
}

/**
 * getSliceToFill: the unchanged slice closest to full once all `count` endpoints are in it, the
 * first by name among equally close ones (the controller takes the first in its list's order).
 */
function sliceToFill(
  groupSlices: Iterable<StoredSlice>,
  written: ReadonlySet<StoredSlice>,
  leaving: ReadonlySet<StoredSlice>,
  count: number,
  max: number,
): StoredSlice | undefined {
  let closestRoomLeft = max;
  let closest: StoredSlice | undefined;
  for (const slice of groupSlices) {
    if (written.has(slice) || leaving.has(slice)) continue;
    const roomLeft = max - (count + slice.endpoints.size);
    if (roomLeft < 0 || roomLeft > closestRoomLeft) continue;
    if (roomLeft < closestRoomLeft || closest === undefined || byName(slice, closest) < 0) {
      closestRoomLeft = roomLeft;
      closest = slice;
    }
  }
  return closest;
}

/** Moves endpoints from `placing[next..]` into the draft up to capacity; returns the new cursor. */
export function fill(draft: Draft, placing: readonly Placement[], next: number, max: number): number {
  let cursor = next;
  while (cursor < placing.length && draft.size < max) {
    const [key, endpoint] = placing[cursor] as Placement;
    draft.set(key, endpoint);
    cursor++;
  }
  return cursor;
}

export interface AddressTypeWrites {
  readonly updates: Draft[];
  readonly creates: Draft[];
  readonly deletes: StoredSlice[];
}

/**
 * finalize(): a slice about to be deleted is rewritten with the content of a slice about to be
 * created instead, one write instead of two. Only owned slices of the same address type qualify;
 * the caller passes just those in `deletes` (and deletes the others separately).
 */
export function finalizeAddressType(plans: readonly GroupPlan[]): AddressTypeWrites {
  const updates = plans.flatMap((p) => p.updates);
  const creates = plans.flatMap((p) => p.creates);
  const deletes: StoredSlice[] = [];
  for (const slice of plans.flatMap((p) => p.deletes)) {
    const reused = creates.pop();
    if (reused === undefined) deletes.push(slice);
    else {
      reused.target = slice;
      updates.push(reused);
    }
  }
  return { updates, creates, deletes };
}
