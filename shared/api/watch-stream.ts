/**
 * Kubernetes watch over the fan-out's change log (docs/watch.md): the events of one kind after a
 * resourceVersion, filtered by namespace and selectors, as `{"type","object"}` JSON lines.
 *
 * Ordering. Objects' resourceVersions come from a hybrid clock (µs of wall time, increasing per
 * object, not globally), and the log is written by stream shards that lag differently. An event
 * can therefore become visible with a version just below one already seen. Each read looks back a
 * replay margin before the position, and an event already sent on this watch (same key and
 * version) is not sent again. Across watches the margin may repeat an event the client already
 * has: the same object at the same version, which informers and kubectl apply as a no-op update.
 *
 * The same generator serves a long poll (API Gateway: end at the deadline or as soon as a poll
 * found events, the client re-watches) and a stream (locally, a function URL: until the deadline).
 */
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { ChangeLogEntry } from "#shared/fanout/change-log.ts";
import { type FieldSelector, type LabelSelector, matchesFields, matchesLabels } from "./label-selector.ts";

export interface ChangeLogReader {
  /**
   * Entries of a kind with a resourceVersion above `after`, in resourceVersion order, up to the
   * reader's page size; `more` when that size cut the read short.
   */
  readSince(kind: OutputKind, after: string): Promise<ChangeLogPage>;
}

export interface ChangeLogPage {
  readonly entries: readonly ChangeLogEntry[];
  readonly more: boolean;
}

export type WatchEventLine =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: OutputObject }
  | {
      readonly type: "BOOKMARK";
      readonly object: {
        readonly kind: string;
        readonly apiVersion: string;
        readonly metadata: { readonly resourceVersion: string };
      };
    };

export interface WatchPlan {
  readonly kind: OutputKind;
  readonly apiVersion: string;
  readonly namespace: string | undefined;
  readonly labelSelector: LabelSelector;
  readonly fieldSelector: FieldSelector;
  /** Follow from after this version. */
  readonly from: string;
  /** The current state to announce first as ADDED (resourceVersion 0 or unset), already filtered. */
  readonly initial: readonly OutputObject[] | undefined;
  readonly bookmarks: boolean;
  /** When to end (ms since epoch). */
  readonly deadlineMs: number;
  /** Long poll: end after the first poll that found events. */
  readonly endWhenEventsSent: boolean;
  /** The client went away: end before the next read of the log. */
  readonly signal?: AbortSignal | undefined;
}

export interface WatchTiming {
  readonly log: ChangeLogReader;
  readonly pollIntervalMs: number;
  readonly replayMarginMs: number;
  /** Streams send a bookmark at least this often when allowed. */
  readonly bookmarkIntervalMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** How far back a read looks for events that became visible late (hybrid clocks, shard lag). */
export const WATCH_REPLAY_MARGIN_MS = 5_000;

/**
 * A list's resourceVersion, where a watch of it starts: the highest version among its items, or
 * now minus the replay margin if that is higher. The items' highest alone would age while nothing
 * changes, until a watch from it answered 410 and the client re-listed into the same old version.
 * Any change the list did not see has a version above now minus the margin, so the list may claim
 * that much.
 */
export function listResourceVersion(highest: string, nowMs: number): string {
  const floor = (BigInt(Math.floor(nowMs - WATCH_REPLAY_MARGIN_MS)) * 1000n).toString();
  return compareResourceVersions(floor, highest) > 0 ? floor : highest;
}

export async function* watchEvents(plan: WatchPlan, timing: WatchTiming): AsyncGenerator<WatchEventLine> {
  const sent = new Set<string>();
  /** With an initial state: what the client holds (key -> version), to drop replays of it. */
  const held = plan.initial === undefined ? undefined : new Map<string, string>();
  let position = plan.from;
  for (const object of plan.initial ?? []) {
    held?.set(keyOf(object), object.metadata.resourceVersion ?? "0");
    yield { type: "ADDED", object };
  }
  let lastBookmarkMs = timing.now();
  const marginMicros = BigInt(Math.round(timing.replayMarginMs * 1000));
  let lookBack = true;
  for (;;) {
    if (plan.signal?.aborted === true) return;
    const since = BigInt(position) - (lookBack ? marginMicros : 0n);
    const { entries, more } = await timing.log.readSince(plan.kind, (since > 0n ? since : 0n).toString());
    // Catching up over full pages reads on from the position, or a margin denser than a page would stall.
    lookBack = !more;
    let emitted = 0;
    for (const entry of entries) {
      if (compareResourceVersions(entry.resourceVersion, position) > 0) position = entry.resourceVersion;
      const id = `${entry.key}@${entry.resourceVersion}`;
      if (sent.has(id)) continue;
      sent.add(id);
      const line = eventFor(entry, plan, held);
      if (line === undefined) continue;
      emitted++;
      yield line;
    }
    const now = timing.now();
    const ending = now >= plan.deadlineMs || (plan.endWhenEventsSent && emitted > 0);
    if (plan.bookmarks && (ending || now - lastBookmarkMs >= timing.bookmarkIntervalMs)) {
      lastBookmarkMs = now;
      yield bookmark(plan, position);
    }
    if (ending) return;
    if (more) continue;
    await timing.sleep(Math.min(timing.pollIntervalMs, Math.max(0, plan.deadlineMs - now)));
  }
}

/**
 * The event a client of this watch sees for an entry, as the apiserver decides it for a selector
 * watch: an object that starts matching is ADDED, one that stops matching is DELETED.
 */
function eventFor(
  entry: ChangeLogEntry,
  plan: WatchPlan,
  held: Map<string, string> | undefined,
): WatchEventLine | undefined {
  if (plan.namespace !== undefined && entry.namespace !== plan.namespace) return undefined;
  if (!matchesFields(plan.fieldSelector, entry.object)) return undefined;
  const matchedBefore =
    entry.previousLabels !== undefined && matchesLabels(plan.labelSelector, entry.previousLabels);
  const matchesNow =
    entry.type !== "DELETED" && matchesLabels(plan.labelSelector, entry.object.metadata.labels);
  if (held !== undefined) {
    const version = held.get(entry.key);
    if (version !== undefined && compareResourceVersions(entry.resourceVersion, version) <= 0)
      return undefined;
    if (matchesNow) held.set(entry.key, entry.resourceVersion);
    else {
      // The client never saw it: no DELETED for it.
      if (version === undefined) return undefined;
      held.delete(entry.key);
      return { type: "DELETED", object: entry.object };
    }
    return { type: version === undefined ? "ADDED" : "MODIFIED", object: entry.object };
  }
  if (matchesNow) return { type: matchedBefore ? "MODIFIED" : "ADDED", object: entry.object };
  return matchedBefore ? { type: "DELETED", object: entry.object } : undefined;
}

function bookmark(plan: WatchPlan, resourceVersion: string): WatchEventLine {
  return {
    type: "BOOKMARK",
    object: { kind: plan.kind, apiVersion: plan.apiVersion, metadata: { resourceVersion } },
  };
}

function keyOf(object: OutputObject): string {
  return object.kind === "EndpointSlice"
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
}
