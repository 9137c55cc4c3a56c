/**
 * fanOutBatch (shared/pipeline/fanout-batch.ts) without AWS: an in-memory change log, counters, and
 * a publisher that records (or refuses) bodies. What matters is the order (log before publish),
 * which records are handed back ("bundles": a suffix from the first that did not go out;
 * "objects": each that did not, alone), and that counting never fails a batch.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MemoryChangeLog } from "#shared/api/memory-change-log.ts";
import type { CiliumEndpointSlice } from "#shared/core/model.ts";
import type { ChangeLogEntry } from "#shared/fanout/change-log.ts";
import type { BodiesPublished, ChangePublisher, ScopedBody } from "#shared/fanout/change-publisher.ts";
import { type FanoutBatchDeps, type FanoutRecord, fanOutBatch } from "#shared/pipeline/fanout-batch.ts";
import { MemoryPipelineCounts } from "#shared/pipeline/memory-pipeline-counts.ts";
import { minuteOf } from "#shared/pipeline/pipeline-counts.ts";
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
    // One topic per scope, named after it; a body's bytes are its length.
    const byTopic = new Map<string, { published: number; bytes: number }>();
    for (const [index, body] of bodies.entries()) {
      if (failed.includes(index)) continue;
      const topic = byTopic.get(body.scope) ?? { published: 0, bytes: 0 };
      byTopic.set(body.scope, { published: topic.published + 1, bytes: topic.bytes + body.body.length });
    }
    const bytes = [...byTopic.values()].reduce((sum, topic) => sum + topic.bytes, 0);
    return { published, bytes, byTopic, failed, errors: failed.map(String) };
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

const NOW = 5_000;

const deps = (
  publisher: ChangePublisher,
  changeLog: MemoryChangeLog | undefined,
  more: Partial<FanoutBatchDeps> = {},
): FanoutBatchDeps => ({
  format: "bundles",
  publisher,
  changeLog,
  audience: { subscribers: async () => 3 },
  zones: [],
  scopes: new Set(["Cilium"]),
  now: () => NOW,
  ...more,
});

const names = (changes: ReadonlyArray<{ readonly after?: { metadata: { name: string } } | undefined }>) =>
  changes.map((change) => change.after?.metadata.name);

describe("fanOutBatch, bundles", () => {
  it("logs every change before it publishes, and hands back nothing when all went out", async () => {
    const events: string[] = [];
    const publisher = new RecordingPublisher(events);
    const log = new OrderedLog(events);
    const result = await fanOutBatch(
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
    assert.deepEqual(names(result.sent), ["s-0", "s-1", "s-2"]);
    assert.deepEqual(result.problems, []);
    const carried = publisher.bodies.flatMap((b) => parseBundle(b.body)?.changes ?? []);
    assert.equal(carried.length, 3);
    assert.equal(result.bundled, 3);
  });

  it("hands back a malformed record and every later one, and publishes what came before it", async () => {
    const publisher = new RecordingPublisher([]);
    const result = await fanOutBatch(
      [record(0), record(1), record(2, true), record(3)],
      deps(publisher, new MemoryChangeLog()),
    );
    assert.deepEqual(
      result.problems.map((p) => [p.kind, "sequenceNumber" in p ? p.sequenceNumber : undefined]),
      [["malformed record", "seq-2"]],
    );
    assert.deepEqual(result.failedSequenceNumbers, ["seq-2", "seq-3"]);
    assert.deepEqual(names(result.sent), ["s-0", "s-1"]);
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
    await assert.rejects(fanOutBatch([record(0)], deps(publisher, log)), /log unavailable/);
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
          const result = await fanOutBatch(records, deps(publisher, new MemoryChangeLog()));
          const readable = bad ?? size;
          const firstFailed = Math.min(readable, lowestRefused);
          assert.deepEqual(
            result.failedSequenceNumbers,
            records.slice(firstFailed).map((r) => r.sequenceNumber),
          );
          assert.deepEqual(
            names(result.sent),
            Array.from({ length: firstFailed }, (_, i) => `s-${i}`),
          );
        },
      ),
      { numRuns: 200, seed: 20261205 },
    );
  });
});

/** A change log that fails every append. */
class BrokenLog extends MemoryChangeLog {
  override async append(): Promise<void> {
    throw new Error("log unavailable");
  }
}

describe("fanOutBatch, objects", () => {
  it("logs each change before it publishes it, and fails a malformed record alone", async () => {
    const log = new OrderedLog([]);
    const unlogged: string[] = [];
    const publisher = new RecordingPublisher([], (body) => {
      const name = (JSON.parse(body.body) as { object: CiliumEndpointSlice }).object.metadata.name;
      if (!log.appended.some((entry) => entry.key.endsWith(name))) unlogged.push(name);
      return false;
    });
    const result = await fanOutBatch(
      [record(0), record(1, true), record(2)],
      deps(publisher, log, { format: "objects" }),
    );
    assert.deepEqual(unlogged, []);
    assert.deepEqual(result.failedSequenceNumbers, ["seq-1"]);
    assert.deepEqual(
      result.problems.map((p) => [p.kind, "sequenceNumber" in p ? p.sequenceNumber : undefined]),
      [["record failed", "seq-1"]],
    );
    assert.deepEqual(names(result.sent), ["s-0", "s-2"]);
    assert.equal(result.logged, 2);
    assert.equal(result.published, 2);
    assert.equal(result.bundled, undefined);
  });

  it("fails the record a message of which was not published, and only that one", async () => {
    const publisher = new RecordingPublisher([], (body) => body.body.includes('"s-1"'));
    const result = await fanOutBatch(
      [0, 1, 2].map((i) => record(i)),
      deps(publisher, new MemoryChangeLog(), { format: "objects" }),
    );
    assert.deepEqual(result.failedSequenceNumbers, ["seq-1"]);
    assert.deepEqual(names(result.sent), ["s-0", "s-2"]);
    assert.equal(result.published, 2);
  });

  it("fails every record, and publishes nothing, when the change log cannot be written", async () => {
    const publisher = new RecordingPublisher([]);
    const result = await fanOutBatch(
      [0, 1].map((i) => record(i)),
      deps(publisher, new BrokenLog(), { format: "objects" }),
    );
    assert.deepEqual(result.failedSequenceNumbers, ["seq-0", "seq-1"]);
    assert.equal(publisher.bodies.length, 0);
  });
});

describe("fanOutBatch counts", () => {
  for (const format of ["bundles", "objects"] as const) {
    it(`${format}: counts deliveries as publishes times subscribers, and records the batch's counts`, async () => {
      const counts = new MemoryPipelineCounts();
      const publisher = new RecordingPublisher([]);
      const result = await fanOutBatch(
        [0, 1].map((i) => record(i)),
        deps(publisher, new MemoryChangeLog(), { format, pipelineCounts: counts }),
      );
      const bytes = publisher.bodies.reduce((sum, body) => sum + body.body.length, 0);
      assert.equal(result.published, publisher.bodies.length);
      assert.equal(result.bytes, bytes);
      assert.deepEqual(result.delivered, { deliveries: 3 * publisher.bodies.length, bytes: 3 * bytes });
      const recorded = await counts.pipelineCountsOf([minuteOf(NOW)]);
      assert.deepEqual(recorded.get(minuteOf(NOW)), {
        streamRecords: 2,
        messagesPublished: publisher.bodies.length,
        deliveries: 3 * publisher.bodies.length,
        bytesPublished: bytes,
      });
    });
  }

  it("goes on when subscribers or counters cannot be read: the messages are out", async () => {
    const publisher = new RecordingPublisher([]);
    const result = await fanOutBatch(
      [record(0)],
      deps(publisher, new MemoryChangeLog(), {
        audience: {
          subscribers: async () => {
            throw new Error("no topic attributes");
          },
        },
        pipelineCounts: {
          recordPipelineCounts: async () => {
            throw new Error("no counters");
          },
        },
      }),
    );
    assert.deepEqual(result.failedSequenceNumbers, []);
    assert.equal(result.delivered, undefined);
    assert.equal(result.published, 1);
    assert.deepEqual(
      result.problems.map((p) => p.kind),
      ["deliveries not counted", "pipeline counts not recorded"],
    );
  });
});
