/**
 * The order in which the EndpointSlice placement looks at equally suitable slices: by name.
 *
 * A namespace group's slices are held in a Map in the order this process created and rewrote
 * them; a group reloaded from storage (a cold Lambda) holds them in the order storage listed
 * them. A choice left to either order would place an endpoint in one slice in a long-lived group
 * and in another in a reloaded one, and the final state may not depend on which of the two ran.
 * So every choice among slices (which to fill, which to top up, which to empty) breaks ties by
 * name, the one thing both know alike.
 */
import type { Draft } from "./draft.ts";

/** Names in code-unit order, as stored keys compare: never locale-dependent. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Stored slices in name order. */
export function byName(a: { readonly name: string }, b: { readonly name: string }): number {
  return compareNames(a.name, b.name);
}

/**
 * The order among drafts of equal size: those rewriting a stored slice by its name, then those
 * still to be created in the order they were planned (they have no name yet, and that order
 * depends only on the input).
 */
export function byTargetName(a: Draft, b: Draft): number {
  const nameA = a.target?.name;
  const nameB = b.target?.name;
  if (nameA === undefined) return nameB === undefined ? 0 : 1;
  if (nameB === undefined) return -1;
  return compareNames(nameA, nameB);
}

/** Fullest first, equally full ones by byTargetName. */
export function fullestThenByName(a: Draft, b: Draft): number {
  return b.size - a.size || byTargetName(a, b);
}

/** Smallest first, equally full ones by byTargetName. */
export function smallestThenByName(a: Draft, b: Draft): number {
  return a.size - b.size || byTargetName(a, b);
}
