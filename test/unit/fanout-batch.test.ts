/**
 * fanOutBundleBatch (shared/pipeline/fanout-batch.ts) without AWS: an in-memory change log and a
 * publisher that records (or refuses) bodies. What matters is the order (log before publish) and
 * which records are handed back (a suffix from the first that did not go out).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MemoryChangeLog } from "#shared/api/memory-change-log.ts";
import type { CiliumEndpointSlice } from "#shared/core/model.ts";
import type { ChangeLogEntry } from "#shared/fanout/change-log.ts";
import type { BodiesPublished, ChangePublisher, ScopedBody } from "#shared/fanout/change-publisher.ts";
import { type FanoutRecord, fanOutBundleBatch } from "#shared/pipeline/fanout-batch.ts";
import { parseBundle } from "#test/support/bundles.ts";

function ces(name: string, rv: string): CiliumEndpointSlice {
  return {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: { name, resourceVersion: rv },
    namespace: "shop",
    endpoints: [{ name: `pod-${rv}`, id: 1000, networking: { addressing: [{ ipv4: `10.0.0.${rv}` }] } }],
  };
}

function record(index: number, malformed = false): FanoutRecord {
  return {
    sequenceNumber: `seq-${index}`,
    recordTimeMs: 1_000 + index,
    images: () => ({
      old: undefined,
      new: malformed
        ? { kind: "CiliumEndpointSlice", object: "{" }
        : {
            kind: "CiliumEndpointSlice",
            object: JSON.stringify(ces(`s-${index}`, String(index + 1))),
            sourceTimeMs: 1,
          },
    }),
  };
}

/** Publishes every body whose changes all come from records below `refuseFrom` (by name). */
class RecordingPublisher implements ChangePublisher {
  readonly bodies: ScopedBody[] = [];
  readonly events: string[];
  readonly refuse: (body: ScopedBody) => boolean;
  constructor(events: string[], refuse: (body: ScopedBody) => boolean = () => false) {
    this.events = events;
    this.refuse = refuse;
  }
  async publishBodies(bodies: readonly ScopedBody[]): Promise<BodiesPublished> {
    this.events.push("publish");
    const failed: number[] = [];
    let published = 0;
    for (const [index, body] of bodies.entries()) {
      if (this.refuse(body)) failed.push(index);
      else {
        this.bodies.push(body);
        published++;
      }
    }
    return { published, bytes: 0, byTopic: new Map(), failed, errors: failed.map(String) };
  }
}

class OrderedLog extends MemoryChangeLog {
  readonly appended: ChangeLogEntry[] = [];
  readonly events: string[];
  constructor(events: string[]) {
    super();
    this.events = events;
  }
  override async append(entries: readonly ChangeLogEntry[], nowMs: number): Promise<void> {
    this.events.push("log");
    this.appended.push(...entries);
    await super.append(entries, nowMs);
  }
}

const deps = (
  publisher: ChangePublisher,
  changeLog: MemoryChangeLog | undefined,
  malformed: string[] = [],
) => ({
  publisher,
  changeLog,
  zones: [],
  scopes: new Set(["Cilium"]),
  now: () => 5_000,
  onMalformed: (sequenceNumber: string) => malformed.push(sequenceNumber),
});

describe("fanOutBundleBatch", () => {
  it("logs every change before it publishes, and hands back nothing when all went out", async () => {
    const events: string[] = [];
    const publisher = new RecordingPublisher(events);
    const log = new OrderedLog(events);
    const result = await fanOutBundleBatch(
      [0, 1, 2].map((i) => record(i)),
      deps(publisher, log),
    );
    assert.deepEqual(events, ["log", "publish"]);
    assert.equal(result.logged, 3);
    assert.deepEqual(
      log.appended.map((e) => e.type),
      ["ADDED", "ADDED", "ADDED"],
    );
    assert.deepEqual(result.failedSequenceNumbers, []);
    assert.ok(result.changes.every((c) => c.delivered));
    const carried = publisher.bodies.flatMap((b) => parseBundle(b.body)?.changes ?? []);
    assert.equal(carried.length, 3);
    assert.equal(result.bundled, 3);
  });

  it("hands back a malformed record and every later one, and publishes what came before it", async () => {
    const malformed: string[] = [];
    const publisher = new RecordingPublisher([]);
    const result = await fanOutBundleBatch(
      [record(0), record(1), record(2, true), record(3)],
      deps(publisher, new MemoryChangeLog(), malformed),
    );
    assert.deepEqual(malformed, ["seq-2"]);
    assert.deepEqual(result.failedSequenceNumbers, ["seq-2", "seq-3"]);
    assert.equal(result.changes.length, 2);
    assert.equal(result.logged, 2);
  });

  it("publishes nothing when the change log cannot be written (the batch is retried whole)", async () => {
    const events: string[] = [];
    const publisher = new RecordingPublisher(events);
    const log = new (class extends MemoryChangeLog {
      override async append(): Promise<void> {
        throw new Error("log unavailable");
      }
    })();
    await assert.rejects(fanOutBundleBatch([record(0)], deps(publisher, log)), /log unavailable/);
    assert.deepEqual(events, []);
  });

  it("hands back exactly the suffix from the first record an unpublished body carries", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.option(fc.nat(), { nil: undefined }),
        async (size, malformedAt, refusedAt) => {
          const bad = malformedAt === undefined ? undefined : malformedAt % size;
          const refused = refusedAt === undefined ? undefined : refusedAt % size;
          const records = Array.from({ length: size }, (_, i) => record(i, i === bad));
          // Refuse any body that carries the change of record `refused`; a body also carries others,
          // so the first record handed back is the lowest one a refused body carried.
          let lowestRefused = size;
          const publisher = new RecordingPublisher([], (body) => {
            const names = (parseBundle(body.body)?.changes ?? []).map((c) => Number(c.name.slice(2)));
            if (!names.includes(refused ?? -1)) return false;
            lowestRefused = Math.min(lowestRefused, ...names);
            return true;
          });
          const result = await fanOutBundleBatch(records, deps(publisher, new MemoryChangeLog()));
          const readable = bad ?? size;
          const firstFailed = Math.min(readable, lowestRefused);
          assert.deepEqual(
            result.failedSequenceNumbers,
            records.slice(firstFailed).map((r) => r.sequenceNumber),
          );
          assert.deepEqual(
            result.changes.map((c) => c.delivered),
            Array.from({ length: readable }, (_, i) => i < firstFailed),
          );
        },
      ),
      { numRuns: 200, seed: 20261205 },
    );
  });
});
