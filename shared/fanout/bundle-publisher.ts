/**
 * One stream batch as coalesced delivery messages (change-bundle.ts): the batch's changes per
 * object merged into one, then one ChangeBundle per scope, cut into as few messages as fit in
 * MAX_MESSAGE_BYTES. Each message remembers the first stream record it carries, so a failed publish
 * fails the batch from there (stream batches are ordered: Lambda retries from the lowest failure).
 */
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange } from "./change-bundle.ts";
import { MAX_MESSAGE_BYTES } from "./change-publisher.ts";
import type { ObjectChange } from "./change-routing.ts";
import { bundledChangesOf } from "./slice-delta.ts";

/** A stored change and the index of the stream record it came from. */
export interface RecordChange {
  readonly change: ObjectChange;
  readonly record: number;
}

export interface BundleMessage {
  readonly scope: string;
  /** JSON of a ChangeBundle, at most MAX_MESSAGE_BYTES. */
  readonly body: string;
  /** Lowest stream record index among the changes it carries. */
  readonly firstRecord: number;
  readonly changes: number;
}

/**
 * Consecutive changes of one object (a chain that does not pass through a deletion) become one:
 * the first's before-image, the last's after-image, the earliest source time. A watcher holding
 * the first before-image applies one delta; any other copy it holds makes that a gap, as always.
 */
export function coalesceChanges(changes: readonly RecordChange[]): RecordChange[] {
  const merged: RecordChange[] = [];
  const open = new Map<string, number>();
  for (const item of changes) {
    const key = objectKey(item.change);
    const at = open.get(key);
    const previous = at === undefined ? undefined : merged[at];
    if (previous === undefined || at === undefined) {
      open.set(key, merged.length);
      merged.push(item);
    } else {
      merged[at] = {
        record: previous.record,
        change: {
          kind: item.change.kind,
          before: previous.change.before,
          after: item.change.after,
          sourceTimeMs: Math.min(previous.change.sourceTimeMs, item.change.sourceTimeMs),
        },
      };
    }
    // A deletion ends the chain: a later re-creation travels as its own ADDED, not as a MODIFIED.
    if (item.change.after === undefined) open.delete(key);
  }
  return merged.filter(({ change }) => change.before !== undefined || change.after !== undefined);
}

/** Every scope's bundle of `changes`, in record order, cut into messages; scopes not in `scopes` are skipped. */
export function bundleMessages(
  changes: readonly RecordChange[],
  zones: readonly string[],
  scopes: ReadonlySet<string>,
  maxBytes = MAX_MESSAGE_BYTES,
): BundleMessage[] {
  const byScope = new Map<string, { change: BundledChange; record: number }[]>();
  for (const { change, record } of changes) {
    for (const scoped of bundledChangesOf(change, zones)) {
      if (!scopes.has(scoped.scope)) continue;
      const list = byScope.get(scoped.scope) ?? [];
      list.push({ change: scoped.change, record });
      byScope.set(scoped.scope, list);
    }
  }
  const messages: BundleMessage[] = [];
  for (const [scope, list] of byScope) messages.push(...splitBundle(scope, list, maxBytes));
  return messages;
}

function splitBundle(
  scope: string,
  list: readonly { change: BundledChange; record: number }[],
  maxBytes: number,
): BundleMessage[] {
  const envelope = (changes: readonly string[]) =>
    `{"bundle":1,"scope":${JSON.stringify(scope)},"changes":[${changes.join(",")}]}`;
  const emptyBytes = Buffer.byteLength(envelope([]));
  const messages: BundleMessage[] = [];
  let parts: string[] = [];
  let bytes = emptyBytes;
  let firstRecord = Number.POSITIVE_INFINITY;
  const flush = () => {
    if (parts.length === 0) return;
    messages.push({ scope, body: envelope(parts), firstRecord, changes: parts.length });
    parts = [];
    bytes = emptyBytes;
    firstRecord = Number.POSITIVE_INFINITY;
  };
  for (const { change, record } of list) {
    let part = JSON.stringify(change);
    if (emptyBytes + Buffer.byteLength(part) > maxBytes) part = JSON.stringify(referenceTo(change));
    const partBytes = Buffer.byteLength(part) + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && bytes + partBytes > maxBytes) flush();
    bytes += Buffer.byteLength(part) + (parts.length > 0 ? 1 : 0);
    parts.push(part);
    firstRecord = Math.min(firstRecord, record);
  }
  flush();
  return messages;
}

/** A change too big for any message: its identity and versions; the watcher re-reads the object. */
function referenceTo(change: BundledChange): BundledChange {
  const {
    object: _object,
    patch: _patch,
    baseDigest: _baseDigest,
    baseViewSum: _baseViewSum,
    ...rest
  } = change;
  return { ...rest, reference: true };
}

function objectKey(change: ObjectChange): string {
  const object = (change.after ?? change.before) as OutputObject;
  return `${change.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}
