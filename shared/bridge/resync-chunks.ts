/**
 * The SYNC events a completed list becomes (docs/input-events.md): per kind and namespace (one
 * scope for the cluster-scoped kinds), the sorted names cut into chunks whose ranges cover the
 * whole name space, each small enough for one SQS message.
 */
import type { BridgeKind } from "./contract-object.ts";

export interface SyncChunk {
  readonly type: "SYNC";
  readonly kind: BridgeKind;
  readonly namespace?: string;
  readonly resourceVersion: string;
  readonly names: readonly string[];
  readonly range: { readonly from: string; readonly to?: string };
}

/** Room for the rest of a chunk: type, kind, namespace, resourceVersion, range bounds. */
const CHUNK_OVERHEAD_BYTES = 800;

export function syncChunks(
  kind: BridgeKind,
  namespace: string | undefined,
  names: Iterable<string>,
  resourceVersion: string,
  maxChunkBytes: number,
): SyncChunk[] {
  const sorted = sortedNames(names);
  const budget = Math.max(maxChunkBytes - CHUNK_OVERHEAD_BYTES, 1024);
  // A chunk takes names while they fit the budget, and always at least one.
  const cuts: number[] = [];
  let bytes = 0;
  for (let i = 0; i < sorted.length; i++) {
    const size = (sorted[i] as string).length + 3;
    if (i > 0 && bytes + size > budget) {
      cuts.push(i);
      bytes = 0;
    }
    bytes += size;
  }
  return syncChunksCutAt(kind, namespace, sorted, resourceVersion, cuts);
}

/** Names as a SYNC chunk lists them: distinct, in code-unit order. */
export function sortedNames(names: Iterable<string>): string[] {
  return [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The chunks of `sorted` (from sortedNames) with a new chunk starting at each of `cuts` (ascending,
 * each above 0 and below sorted.length). Their ranges cover the whole name space: the first from "",
 * each up to the next chunk's first name, the last open-ended; no names make one empty chunk.
 */
export function syncChunksCutAt(
  kind: BridgeKind,
  namespace: string | undefined,
  sorted: readonly string[],
  resourceVersion: string,
  cuts: readonly number[],
): SyncChunk[] {
  const bounds = [0, ...cuts, sorted.length];
  const chunks: SyncChunk[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = bounds[i] as number;
    const end = bounds[i + 1] as number;
    const from = start === 0 ? "" : (sorted[start] as string);
    const to = end < sorted.length ? (sorted[end] as string) : undefined;
    chunks.push({
      type: "SYNC",
      kind,
      ...(namespace === undefined ? {} : { namespace }),
      resourceVersion,
      names: sorted.slice(start, end),
      range: to === undefined ? { from } : { from, to },
    });
  }
  return chunks;
}

/** The object names of a list by namespace ("" for cluster-scoped kinds). */
export function namesByNamespace(
  objects: Iterable<{ metadata?: { name?: string; namespace?: string } }>,
): Map<string, string[]> {
  const byNamespace = new Map<string, string[]>();
  for (const object of objects) {
    const namespace = object.metadata?.namespace ?? "";
    const name = object.metadata?.name;
    if (name === undefined) continue;
    let names = byNamespace.get(namespace);
    if (names === undefined) {
      names = [];
      byNamespace.set(namespace, names);
    }
    names.push(name);
  }
  return byNamespace;
}
