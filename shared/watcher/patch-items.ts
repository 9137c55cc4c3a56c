/**
 * The patch replay rule of slice-delta.ts over a watcher's held items, and the item keys patches name.
 */

import type { Endpoint } from "#shared/core/model.ts";
import { type CiliumEntry, EndpointEntry } from "./compact-items.ts";

export function toEndpointEntry(endpoint: Endpoint): EndpointEntry {
  return new EndpointEntry(endpoint);
}

export function endpointEntryKey(entry: EndpointEntry): string {
  return entry.uid;
}

export function ciliumEntryKey(entry: CiliumEntry): string {
  return entry.name;
}

/**
 * The patch replay rule of slice-delta.ts: drop `remove`, replace an upserted item whose key is
 * still there in place, append the others in `upsert` order. `displaced`: the items that went.
 * A patch usually names one or two items: they are found by a scan, not through a map of all.
 */
export function patchItems<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  remove: readonly string[],
  upserts: readonly T[],
): { items: T[]; displaced: T[] } {
  const displaced: T[] = [];
  let out: T[];
  if (remove.length === 0) out = items.slice();
  else {
    const removed = new Set(remove);
    out = [];
    for (const item of items) {
      if (removed.has(keyOf(item))) displaced.push(item);
      else out.push(item);
    }
  }
  const position = upserts.length > 4 ? new Map(out.map((item, index) => [keyOf(item), index])) : undefined;
  for (const item of upserts) {
    const key = keyOf(item);
    const index = position === undefined ? indexOfKey(out, keyOf, key) : position.get(key);
    if (index === undefined) {
      position?.set(key, out.length);
      out.push(item);
    } else {
      displaced.push(out[index] as T);
      out[index] = item;
    }
  }
  return { items: out, displaced };
}

function indexOfKey<T>(items: readonly T[], keyOf: (item: T) => string, key: string): number | undefined {
  for (let i = 0; i < items.length; i++) if (keyOf(items[i] as T) === key) return i;
  return undefined;
}
