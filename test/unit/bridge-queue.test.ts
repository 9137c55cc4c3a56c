/** The bridge's coalescing queue and SQS packing: bounds, newest-wins, SQS limits. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CoalescingQueue, type QueuedEvent } from "#shared/bridge/coalescing-queue.ts";
import { packBatches, SQS_MAX_BATCH_ENTRIES, SQS_MAX_PAYLOAD_BYTES } from "#shared/bridge/message-packer.ts";

function event(key: string, resourceVersion: number, extra: Partial<QueuedEvent> = {}): QueuedEvent {
  return {
    key,
    route: "ingest",
    resourceVersion: String(resourceVersion),
    json: JSON.stringify({ key, rv: resourceVersion }),
    sourceTimeMs: resourceVersion,
    queuedAtMs: resourceVersion,
    ...extra,
  };
}

describe("coalescing queue", () => {
  it("keeps the newest event per object, in the place and with the source time of the first", () => {
    const queue = new CoalescingQueue({ maxEvents: 10, maxBytes: 1 << 20 });
    assert.equal(queue.offer(event("a", 1)), "queued");
    assert.equal(queue.offer(event("b", 2)), "queued");
    assert.equal(queue.offer(event("a", 5)), "coalesced");
    assert.equal(queue.offer(event("a", 3)), "stale");
    const taken = queue.take(10, 1 << 20);
    assert.equal(queue.size, 2, "taken events count until settled");
    queue.settle(taken);
    assert.deepEqual(
      taken.map((e) => [e.key, e.resourceVersion, e.sourceTimeMs]),
      [
        ["a", "5", 1],
        ["b", "2", 2],
      ],
    );
    assert.equal(queue.bytes, 0);
  });

  it("refuses new objects when full, counting events taken and not settled; still coalesces queued ones", () => {
    const queue = new CoalescingQueue({ maxEvents: 2, maxBytes: 1 << 20 });
    queue.offer(event("a", 1));
    queue.offer(event("b", 1));
    assert.equal(queue.offer(event("c", 1)), "refused");
    assert.equal(queue.offer(event("b", 2)), "coalesced");
    const taken = queue.take(1, 1 << 20);
    assert.equal(queue.offer(event("c", 1)), "refused", "a is in flight");
    queue.settle(taken);
    assert.equal(queue.offer(event("c", 1)), "queued");
  });

  it("puts failed events back unless a newer one of the object came in meanwhile", () => {
    const queue = new CoalescingQueue({ maxEvents: 10, maxBytes: 1 << 20 });
    queue.offer(event("a", 1));
    queue.offer(event("b", 1));
    const taken = queue.take(2, 1 << 20);
    queue.offer(event("a", 7));
    queue.requeue(taken);
    assert.equal(queue.size, 2);
    assert.deepEqual(
      queue.take(10, 1 << 20).map((e) => [e.key, e.resourceVersion]),
      [
        ["a", "7"],
        ["b", "1"],
      ],
    );
  });

  it("never holds more than its bound, and hands out the newest of every object it accepted", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.oneof(fc.record({ key: fc.nat({ max: 12 }), rv: fc.nat({ max: 50 }) }), fc.constant("take")),
          {
            maxLength: 200,
          },
        ),
        (maxEvents, steps) => {
          const queue = new CoalescingQueue({ maxEvents, maxBytes: 1 << 20 });
          const newestAccepted = new Map<string, number>();
          const delivered = new Map<string, number>();
          const deliver = (events: QueuedEvent[]) => {
            for (const e of events)
              delivered.set(e.key, Math.max(delivered.get(e.key) ?? -1, Number(e.resourceVersion)));
          };
          for (const step of steps) {
            if (step === "take") {
              const taken = queue.take(3, 1 << 20);
              deliver(taken);
              queue.settle(taken);
            } else {
              const key = `k${step.key}`;
              const outcome = queue.offer(event(key, step.rv));
              if (outcome !== "refused")
                newestAccepted.set(key, Math.max(newestAccepted.get(key) ?? -1, step.rv));
            }
            assert.ok(queue.size <= maxEvents);
          }
          deliver(queue.take(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
          assert.deepEqual(delivered, newestAccepted);
        },
      ),
    );
  });
});

describe("SendMessageBatch packing", () => {
  it("keeps every event once, within 10 entries and 256 KiB per call, one route per call", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            size: fc.oneof(fc.integer({ min: 10, max: 400 }), fc.integer({ min: 20_000, max: 120_000 })),
            priority: fc.boolean(),
            time: fc.nat({ max: 1000 }),
          }),
          { maxLength: 120 },
        ),
        fc.integer({ min: 512, max: 128 * 1024 }),
        (specs, maxBodyBytes) => {
          const events = specs.map((spec, i) =>
            event(`k${i}`, i, {
              route: spec.priority ? "priority" : "ingest",
              json: JSON.stringify({ i, pad: "x".repeat(spec.size) }),
              sourceTimeMs: spec.time,
            }),
          );
          const batches = packBatches(events, { maxBodyBytes });
          const seen: string[] = [];
          for (const batch of batches) {
            assert.ok(batch.bodies.length >= 1 && batch.bodies.length <= SQS_MAX_BATCH_ENTRIES);
            const bytes = batch.bodies.reduce((sum, body) => sum + Buffer.byteLength(body.body) + 64, 0);
            assert.ok(bytes <= SQS_MAX_PAYLOAD_BYTES, `${bytes} bytes in one call`);
            for (const body of batch.bodies) {
              const parsed = JSON.parse(body.body) as { events: unknown[] };
              assert.deepEqual(
                parsed.events,
                body.events.map((e) => JSON.parse(e.json)),
              );
              assert.ok(body.events.length === 1 || Buffer.byteLength(body.body) <= maxBodyBytes);
              assert.equal(body.sourceTimeMs, Math.min(...body.events.map((e) => e.sourceTimeMs)));
              for (const e of body.events) {
                assert.equal(e.route, batch.route);
                seen.push(e.key);
              }
            }
          }
          assert.deepEqual(seen.sort(), events.map((e) => e.key).sort());
        },
      ),
    );
  });
});
