import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  IdentityAllocator,
  type IdentityAllocatorSnapshot,
  IdentityExhaustedError,
} from "#shared/core/identity/identity-allocator.ts";
import { labelSetKey } from "#shared/core/identity/security-labels.ts";

const MIN_ID = 256;
const MAX_ID = 263; // 8 ids for 12 label sets: exhaustion and wrap-around happen often
const GRACE = 100;
const LABEL_SETS = Array.from({ length: 12 }, (_, i) => ({
  "k8s:app": `app-${i % 4}`,
  "k8s:io.kubernetes.pod.namespace": `ns-${Math.floor(i / 4)}`,
}));

type Op =
  | { kind: "acquire"; set: number; dt: number }
  | { kind: "release"; pick: number; dt: number }
  | { kind: "gc"; dt: number }
  | { kind: "restart"; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("acquire" as const), set: fc.nat(11), dt: fc.nat(40) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat(), dt: fc.nat(40) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("gc" as const), dt: fc.nat(150) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), dt: fc.nat(10) }) },
);

/** The reference: how many references each label set holds, and when each went unused. */
interface Model {
  refs: Map<number, number>;
  unusedSince: Map<number, number>;
  /** Identities that exist in the model: label set -> id (ids come from the allocator; the model checks their use). */
  idOf: Map<number, number>;
  lastCreatedId: number | undefined;
  held: Array<{ set: number; id: number }>;
}

function firstFreeAfter(last: number | undefined, used: Set<number>): number {
  let id = last === undefined ? MIN_ID : last >= MAX_ID ? MIN_ID : last + 1;
  for (let i = 0; i <= MAX_ID - MIN_ID; i++) {
    if (!used.has(id)) return id;
    id = id >= MAX_ID ? MIN_ID : id + 1;
  }
  throw new Error("no free id");
}

function checkInvariants(allocator: IdentityAllocator, model: Model): void {
  const ids = new Set<number>();
  const keys = new Set<string>();
  for (const identity of allocator.identities()) {
    assert.ok(identity.id >= MIN_ID && identity.id <= MAX_ID, `id ${identity.id} out of range`);
    assert.ok(!ids.has(identity.id), `id ${identity.id} twice`);
    assert.ok(!keys.has(identity.labelSetKey), `label set ${identity.labelSetKey} has two ids`);
    ids.add(identity.id);
    keys.add(identity.labelSetKey);
    assert.equal(allocator.idFor(identity.labelSetKey), identity.id);
  }
  assert.equal(ids.size, model.idOf.size);
  for (const [set, id] of model.idOf) {
    const identity = allocator.get(id);
    assert.ok(identity, `identity of set ${set} missing`);
    assert.equal(identity.labelSetKey, labelSetKey(LABEL_SETS[set] as Record<string, string>));
    assert.equal(identity.refCount, model.refs.get(set) ?? 0, "refCount differs from a recount");
    assert.equal(identity.unusedSinceMs, model.unusedSince.get(set));
  }
}

describe("IdentityAllocator against a reference model", () => {
  it("never duplicates, stays in range, counts references exactly, reuses ids only cyclically", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }), (ops) => {
        let allocator = new IdentityAllocator({ minId: MIN_ID, maxId: MAX_ID, gcGraceMs: GRACE });
        const model: Model = {
          refs: new Map(),
          unusedSince: new Map(),
          idOf: new Map(),
          lastCreatedId: undefined,
          held: [],
        };
        let now = 0;
        for (const op of ops) {
          now += op.dt;
          if (op.kind === "acquire") {
            const labels = LABEL_SETS[op.set] as Record<string, string>;
            const existing = model.idOf.get(op.set);
            if (existing === undefined && model.idOf.size === MAX_ID - MIN_ID + 1) {
              assert.throws(() => allocator.acquire(labels, now), IdentityExhaustedError);
              continue;
            }
            const result = allocator.acquire(labels, now);
            if (existing !== undefined) {
              assert.deepEqual(result, { id: existing, created: false });
            } else {
              assert.equal(result.created, true);
              const expected = firstFreeAfter(model.lastCreatedId, new Set(model.idOf.values()));
              assert.equal(result.id, expected, "a new id is the first free one after the last created");
              model.idOf.set(op.set, result.id);
              model.lastCreatedId = result.id;
            }
            model.refs.set(op.set, (model.refs.get(op.set) ?? 0) + 1);
            model.unusedSince.delete(op.set);
            model.held.push({ set: op.set, id: result.id });
          } else if (op.kind === "release") {
            if (model.held.length === 0) continue;
            const [{ set, id }] = model.held.splice(op.pick % model.held.length, 1) as [
              { set: number; id: number },
            ];
            allocator.release(id, now);
            const refs = (model.refs.get(set) ?? 0) - 1;
            model.refs.set(set, refs);
            if (refs === 0) model.unusedSince.set(set, now);
          } else if (op.kind === "gc") {
            const expected: number[] = [];
            for (const [set, since] of model.unusedSince) {
              if (now - since < GRACE) continue;
              expected.push(model.idOf.get(set) as number);
              model.idOf.delete(set);
              model.unusedSince.delete(set);
              model.refs.delete(set);
            }
            assert.deepEqual(
              allocator.collectGarbage(now),
              expected.sort((a, b) => a - b),
            );
          } else {
            const snapshot = JSON.parse(JSON.stringify(allocator.snapshot())) as IdentityAllocatorSnapshot;
            allocator = IdentityAllocator.fromSnapshot(snapshot, { gcGraceMs: GRACE });
          }
          checkInvariants(allocator, model);
        }
      }),
      { numRuns: 300 },
    );
  });
});
