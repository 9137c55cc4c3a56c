/**
 * List-then-watch converges despite late visibility (docs/watch.md): changes minted by a hybrid
 * clock, committed to the table after a delay and logged by the fan-out after another, so the log
 * fills out of version order. A client that lists at a random moment, then follows a watch from
 * the list's resourceVersion, must end holding exactly the final state — as long as commit delay
 * plus log lag stays under the replay margin, the bound the design states.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ALL_FIELDS, parseLabelSelector } from "#shared/api/label-selector.ts";
import {
  type ChangeLogPage,
  type ChangeLogReader,
  listResourceVersion,
  WATCH_REPLAY_MARGIN_MS,
  watchEvents,
} from "#shared/api/watch-stream.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { type ChangeLogEntry, changeLogEntry } from "#shared/fanout/change-log.ts";

const START_MS = 1_800_000_000_000;

interface Step {
  readonly key: number;
  readonly deleted: boolean;
  readonly gapMs: number;
  readonly commitDelayMs: number;
  readonly logLagMs: number;
}

const stepArbitrary = fc.record({
  key: fc.integer({ min: 0, max: 4 }),
  deleted: fc.boolean(),
  gapMs: fc.integer({ min: 0, max: 1_500 }),
  commitDelayMs: fc.integer({ min: 0, max: 1_900 }),
  logLagMs: fc.integer({ min: 0, max: 1_900 }),
});

function slice(key: number, resourceVersion: string): OutputObject {
  return {
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    metadata: { name: `s${key}`, namespace: "ns", labels: {}, resourceVersion },
    addressType: "IPv4",
    endpoints: [],
    ports: [],
  } as unknown as OutputObject;
}

interface Timed {
  readonly entry: ChangeLogEntry;
  readonly committedAtMs: number;
  readonly loggedAtMs: number;
}

/** The changes of a run: versions per object increasing, commits and log writes in order per object. */
function timeline(steps: readonly Step[]): Timed[] {
  const current = new Map<number, OutputObject>();
  const lastWrite = new Map<number, { committedAtMs: number; loggedAtMs: number }>();
  const lastVersion = new Map<number, bigint>();
  const out: Timed[] = [];
  let mintMs = START_MS;
  for (const step of steps) {
    mintMs += step.gapMs;
    const before = current.get(step.key);
    if (step.deleted && before === undefined) continue;
    // An object's writes are one after another, in one stream shard: never earlier than the last.
    const last = lastWrite.get(step.key);
    const committedAtMs = Math.max(mintMs + step.commitDelayMs, last?.committedAtMs ?? 0);
    const loggedAtMs = Math.max(committedAtMs + step.logLagMs, last?.loggedAtMs ?? 0);
    lastWrite.set(step.key, { committedAtMs, loggedAtMs });
    let entry: ChangeLogEntry;
    if (step.deleted) {
      // The stream record's time, in whole seconds, as the fan-out mints a deletion's version.
      entry = changeLogEntry(
        { kind: "EndpointSlice", before, after: undefined, sourceTimeMs: 0 },
        Math.floor(committedAtMs / 1000) * 1000,
      );
      current.delete(step.key);
    } else {
      let version = BigInt(mintMs) * 1000n;
      const previous = lastVersion.get(step.key);
      if (previous !== undefined && version <= previous) version = previous + 1n;
      const after = slice(step.key, version.toString());
      entry = changeLogEntry({ kind: "EndpointSlice", before, after, sourceTimeMs: 0 }, 0);
      current.set(step.key, after);
    }
    lastVersion.set(step.key, BigInt(entry.resourceVersion));
    out.push({ entry, committedAtMs, loggedAtMs });
  }
  return out;
}

/** The objects committed by `atMs`: key -> version. */
function stateAt(changes: readonly Timed[], atMs: number): Map<string, string> {
  const state = new Map<string, string>();
  for (const { entry, committedAtMs } of [...changes].sort((a, b) => a.committedAtMs - b.committedAtMs)) {
    if (committedAtMs > atMs) continue;
    if (entry.type === "DELETED") state.delete(entry.key);
    else state.set(entry.key, entry.resourceVersion);
  }
  return state;
}

describe("list then watch", () => {
  it("ends holding the final state when commit delay + log lag stay under the replay margin", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 30_000 }),
        async (steps, listAfterMs) => {
          const changes = timeline(steps);
          // Commit delay + log lag + a deletion version's rounding to the second: under the margin.
          assert.ok(WATCH_REPLAY_MARGIN_MS > 1_900 + 1_900 + 1_000);
          let clock = START_MS + listAfterMs;
          const listed = stateAt(changes, clock);
          let highest = "0";
          for (const version of listed.values()) if (BigInt(version) > BigInt(highest)) highest = version;
          const from = listResourceVersion(highest, clock);
          const log: ChangeLogReader = {
            async readSince(_kind, after): Promise<ChangeLogPage> {
              const entries = changes
                .filter((c) => c.loggedAtMs <= clock && BigInt(c.entry.resourceVersion) > BigInt(after))
                .map((c) => c.entry)
                .sort((a, b) => (BigInt(a.resourceVersion) < BigInt(b.resourceVersion) ? -1 : 1));
              return { entries, more: false };
            },
          };
          const end = Math.max(...changes.map((c) => c.loggedAtMs), clock) + 1_000;
          const held = new Map(listed);
          for await (const line of watchEvents(
            {
              kind: "EndpointSlice",
              apiVersion: "discovery.k8s.io/v1",
              namespace: undefined,
              labelSelector: parseLabelSelector(undefined),
              fieldSelector: ALL_FIELDS,
              from,
              initial: undefined,
              bookmarks: false,
              deadlineMs: end,
              endWhenEventsSent: false,
            },
            {
              log,
              pollIntervalMs: 500,
              replayMarginMs: WATCH_REPLAY_MARGIN_MS,
              bookmarkIntervalMs: 10_000,
              now: () => clock,
              sleep: async (ms) => {
                clock += Math.max(ms, 1);
              },
            },
          )) {
            if (line.type === "BOOKMARK") continue;
            const key = `ns/${line.object.metadata.name}`;
            if (line.type === "DELETED") held.delete(key);
            else held.set(key, line.object.metadata.resourceVersion ?? "");
          }
          assert.deepEqual([...held].sort(), [...stateAt(changes, Number.POSITIVE_INFINITY)].sort());
        },
      ),
      { numRuns: 300 },
    );
  });
});
