/**
 * Replays a trace through the real slicing core (in memory), batched the way a strategy batches:
 * one event at a time (a Kubernetes controller syncing on every change) or in windows of the
 * ingest pipeline's length. The initial load goes in large batches and is reported as unmeasured.
 *
 * The engine's clock is the trace's clock, so identity garbage collection and tombstones age as
 * they would in the scenario.
 */

import { BaselineObserver, type BaselineWrite } from "#scripts/bench/baselines/baseline-observer.ts";
import type { Trace } from "#scripts/bench/types.ts";
import type { CommitRequest } from "#shared/adapters/dynamodb/group-commit.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";
import { type BatchReport, SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import type { WatchEvent } from "#shared/k8s/watch-event-schema.ts";
import { PlanningMemoryStore } from "./planning-store.ts";

const LOAD_BATCH = 1_000;

export interface ReplayBatch {
  /** When the batch's writes happen: the event's time, or the end of its window. */
  readonly atMs: number;
  /** Trace indexes [from, to). */
  readonly from: number;
  readonly to: number;
  readonly measured: boolean;
  readonly report: BatchReport;
  /** What the comparison baselines would have written (only when the replay counts them). */
  readonly baselineWrites: readonly BaselineWrite[];
  /** The group commits as the DynamoDB store would plan them (only when the replay plans them). */
  readonly commits: readonly CommitRequest[];
}

export type Batching = { readonly kind: "event" } | { readonly kind: "window"; readonly windowMs: number };

/** The trace's events validated once, shared by every replay (the engine keeps no reference to them). */
export function parseTrace(trace: Trace): WatchEvent[] {
  const parsed: WatchEvent[] = [];
  for (let i = 0; i < trace.events.length; i += LOAD_BATCH) {
    const events = trace.events.slice(i, i + LOAD_BATCH).map((e) => e.event);
    const result = parseMessageBody(JSON.stringify({ events }), { maxEventBytes: Number.POSITIVE_INFINITY });
    if (result.rejected.length > 0) throw new Error(`invalid trace event: ${result.rejected[0]?.reason}`);
    parsed.push(...result.events);
  }
  return parsed;
}

export async function replay(
  trace: Trace,
  parsed: readonly WatchEvent[],
  settings: SlicingSettings,
  batching: Batching,
  onBatch: (batch: ReplayBatch) => void,
  options: { readonly baselines?: boolean; readonly planCommits?: boolean } = {},
): Promise<void> {
  let nowMs = 0;
  const store =
    options.planCommits === true
      ? new PlanningMemoryStore(settings, () => nowMs, { keepObjects: false })
      : new MemoryClusterStore(settings, { keepObjects: false });
  const observer = options.baselines === true ? new BaselineObserver() : undefined;
  const engine = new SliceEngine({ settings, store, nowMs: () => nowMs, ...(observer && { observer }) });
  const run = async (from: number, to: number, atMs: number, measured: boolean) => {
    nowMs = atMs;
    const batch = [];
    for (let i = from; i < to; i++) {
      batch.push({ event: parsed[i] as WatchEvent, sourceTimeMs: trace.events[i]?.atMs ?? atMs });
    }
    const report = await engine.applyBatch(batch);
    const commits = store instanceof PlanningMemoryStore ? store.drainPlanned() : [];
    onBatch({ atMs, from, to, measured, report, baselineWrites: observer?.drain() ?? [], commits });
  };
  for (let i = 0; i < trace.measuredFrom; i += LOAD_BATCH) {
    await run(i, Math.min(i + LOAD_BATCH, trace.measuredFrom), 0, false);
  }
  const events = trace.events;
  if (batching.kind === "event") {
    for (let i = trace.measuredFrom; i < events.length; i++) await run(i, i + 1, events[i]?.atMs ?? 0, true);
    return;
  }
  let from = trace.measuredFrom;
  while (from < events.length) {
    const window = Math.floor((events[from]?.atMs ?? 0) / batching.windowMs);
    let to = from;
    while (to < events.length && Math.floor((events[to]?.atMs ?? 0) / batching.windowMs) === window) to++;
    await run(from, to, (window + 1) * batching.windowMs, true);
    from = to;
  }
}
