/**
 * patchItems (the watcher's replay of slice-delta patches) against a naive model, on both of its
 * paths: a scan for a few upserts, a position map for more than four.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { patchItems } from "#shared/watcher/patch-items.ts";

interface Item {
  readonly key: string;
  readonly version: number;
}
const keyOf = (item: Item): string => item.key;

function naivePatch(items: readonly Item[], remove: readonly string[], upserts: readonly Item[]) {
  const displaced = items.filter((item) => remove.includes(item.key));
  const out = items.filter((item) => !remove.includes(item.key));
  for (const upsert of upserts) {
    const index = out.findIndex((item) => item.key === upsert.key);
    if (index < 0) out.push(upsert);
    else {
      displaced.push(out[index] as Item);
      out[index] = upsert;
    }
  }
  return { items: out, displaced };
}

const keys = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `k${i}`));
const uniqueItems = (version: number) =>
  fc.uniqueArray(keys, { maxLength: 12 }).map((ks) => ks.map((key) => ({ key, version })));

describe("patchItems", () => {
  it("equals the naive replay: removes, replaces in place, appends in upsert order", () => {
    fc.assert(
      fc.property(
        uniqueItems(1),
        fc.uniqueArray(keys, { maxLength: 6 }),
        uniqueItems(2),
        (items, remove, upserts) => {
          const got = patchItems(items, keyOf, remove, upserts);
          const want = naivePatch(items, remove, upserts);
          assert.deepEqual(got.items, want.items);
          const sort = (list: readonly Item[]) =>
            [...list].sort((a, b) => a.key.localeCompare(b.key) || a.version - b.version);
          assert.deepEqual(sort(got.displaced), sort(want.displaced));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("does not change its input", () => {
    const items = [
      { key: "a", version: 1 },
      { key: "b", version: 1 },
    ];
    const copy = structuredClone(items);
    patchItems(items, keyOf, ["a"], [{ key: "b", version: 2 }]);
    assert.deepEqual(items, copy);
  });
});
