/**
 * What the core hands to storage and fan-out: one entry per object write, with its exact size.
 */
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "./model.ts";

/** The kinds sliceline stores, serves and fans out: the one list every other place reads. */
export const OUTPUT_KINDS = ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];
export type WriteOp = "create" | "update" | "delete";

export type OutputObject = EndpointSlice | CiliumEndpointSlice | CiliumIdentity;

export interface ObjectWrite {
  readonly kind: OutputKind;
  readonly op: WriteOp;
  /** The object as written; for a delete, its last state stamped with the deletion's resourceVersion. */
  readonly object: OutputObject;
  /** The resourceVersion the write expects to replace (undefined for a create): the storage condition. */
  readonly expectedResourceVersion: string | undefined;
  /** Serialized JSON size of the object. */
  readonly bytes: number;
  /** Earliest source-event time among the changes this write carries (ms since epoch). */
  readonly sourceTimeMs: number;
}

export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

export interface WriteTally {
  writes: number;
  creates: number;
  updates: number;
  deletes: number;
  bytes: number;
}

export function emptyTally(): WriteTally {
  return { writes: 0, creates: 0, updates: 0, deletes: 0, bytes: 0 };
}

export function addToTally(tally: WriteTally, op: WriteOp, bytes: number): void {
  tally.writes++;
  tally.bytes += bytes;
  if (op === "create") tally.creates++;
  else if (op === "update") tally.updates++;
  else tally.deletes++;
}
