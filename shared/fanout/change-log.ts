/**
 * The change log the Kubernetes watch reads (docs/watch.md): the fan-out turns every slices-table
 * stream record into one entry, ordered by the event's resourceVersion within its kind.
 *
 * An entry's position is the new object's resourceVersion. A deletion has no new version of its
 * own (the stream's REMOVE record carries the old image only), so it gets one minted from the
 * stream record's creation time, kept above the deleted object's last version: deterministic, so a
 * retried stream batch rewrites the same entry instead of adding a second one.
 */

import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { WatchEventType } from "#shared/fanout/change-routing.ts";
import type { ObjectChange } from "./change-routing.ts";

/** How long entries are kept: a watch from an older resourceVersion is answered 410 Expired. */
export const CHANGE_LOG_RETENTION_MS = 15 * 60_000;

export interface ChangeLogEntry {
  readonly kind: OutputKind;
  readonly type: WatchEventType;
  /** The event's position (µs, the hybrid clock's unit), as a decimal string. */
  readonly resourceVersion: string;
  /** "<namespace>/<name>" for EndpointSlices, "<name>" otherwise (the slices table's nsName). */
  readonly key: string;
  /** The EndpointSlice's namespace; undefined for cluster-scoped kinds. */
  readonly namespace: string | undefined;
  /** The object after the change; for a deletion its last state, stamped with the deletion's version. */
  readonly object: OutputObject;
  /** The labels before the change; undefined when the object did not exist (a selector watch needs them). */
  readonly previousLabels: Readonly<Record<string, string>> | undefined;
}

export interface ChangeLogWriter {
  /** Idempotent: an entry written twice (a retried stream batch) is one entry. */
  append(entries: readonly ChangeLogEntry[], nowMs: number): Promise<void>;
}

export class ChangeWithoutObjectError extends Error {
  override name = "ChangeWithoutObjectError";
}

/** The entry of one stream record; `recordTimeMs` is the record's creation time (for deletions). */
export function changeLogEntry(change: ObjectChange, recordTimeMs: number): ChangeLogEntry {
  const { before, after } = change;
  const last = after ?? before;
  if (last === undefined) throw new ChangeWithoutObjectError(`a ${change.kind} change without an object`);
  const type: WatchEventType = before === undefined ? "ADDED" : after === undefined ? "DELETED" : "MODIFIED";
  const resourceVersion =
    after === undefined ? deletionVersion(before?.metadata.resourceVersion, recordTimeMs) : versionOf(after);
  const object =
    after === undefined
      ? ({ ...last, metadata: { ...last.metadata, resourceVersion } } as OutputObject)
      : after;
  const namespace = last.kind === "EndpointSlice" ? last.metadata.namespace : undefined;
  return {
    kind: change.kind,
    type,
    resourceVersion,
    key: namespace === undefined ? last.metadata.name : `${namespace}/${last.metadata.name}`,
    namespace,
    object,
    previousLabels: before === undefined ? undefined : { ...(before.metadata.labels ?? {}) },
  };
}

function versionOf(object: OutputObject): string {
  const version = object.metadata.resourceVersion;
  return version !== undefined && /^[0-9]+$/.test(version) ? version : "0";
}

function deletionVersion(previous: string | undefined, recordTimeMs: number): string {
  const minted = BigInt(Math.floor(recordTimeMs)) * 1000n;
  const after = previous !== undefined && /^[0-9]+$/.test(previous) ? BigInt(previous) + 1n : 0n;
  return (minted > after ? minted : after).toString();
}
