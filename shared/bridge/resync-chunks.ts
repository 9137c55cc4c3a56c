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
  const sorted = [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const budget = Math.max(maxChunkBytes - CHUNK_OVERHEAD_BYTES, 1024);
  const chunks: SyncChunk[] = [];
  let start = 0;
  while (start < sorted.length || chunks.length === 0) {
    let end = start;
    let bytes = 0;
    while (end < sorted.length && (end === start || bytes + (sorted[end] as string).length + 3 <= budget)) {
      bytes += (sorted[end] as string).length + 3;
      end++;
    }
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
    start = end;
    if (start >= sorted.length) break;
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
