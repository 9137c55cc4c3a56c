import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { kindShardKey, kindShardKeys, shardOf } from "#shared/adapters/dynamodb/items.ts";
import { compareUtf8, ShardMerge, type ShardReader } from "#shared/adapters/dynamodb/shard-merge.ts";

type Row = { nsName: string; pk: string; sk: string };

/** Shards as DynamoDB would serve them: sorted by nsName, paged by Limit, resumable from a key. */
function shardReader(shards: ReadonlyMap<string, Row[]>, reads: string[] = []): ShardReader {
  return async (shard, { from, startKey, limit }) => {
    reads.push(shard);
    const rows = [...(shards.get(shard) ?? [])].sort((a, b) => compareUtf8(a.nsName, b.nsName));
    let start = 0;
    if (startKey !== undefined)
      start = rows.findIndex((row) => row.pk === startKey.pk && row.sk === startKey.sk) + 1;
    else if (from !== undefined) start = rows.findIndex((row) => compareUtf8(row.nsName, from) >= 0);
    if (start < 0) start = rows.length;
    const items = rows.slice(start, start + limit);
    const last = items.at(-1);
    return {
      items,
      lastEvaluatedKey:
        start + limit < rows.length && last !== undefined ? { pk: last.pk, sk: last.sk } : undefined,
    };
  };
}

async function drain(merge: ShardMerge, limit: number): Promise<string[]> {
  const out: string[] = [];
  for (let item = await merge.peek(limit); item !== undefined; item = await merge.peek(limit)) {
    out.push(String(item.nsName));
    merge.advance();
  }
  return out;
}

function sharded(names: readonly string[]): Map<string, Row[]> {
  const shards = new Map<string, Row[]>();
  for (const nsName of names) {
    const shard = kindShardKey("EndpointSlice", nsName);
    const [namespace, name] = nsName.split("/");
    shards.set(shard, [
      ...(shards.get(shard) ?? []),
      { nsName, pk: `EndpointSlice#${namespace}`, sk: String(name) },
    ]);
  }
  return shards;
}

describe("kind index shards", () => {
  it("a name's shard is stable and within range; a kind's shards are all listed", () => {
    assert.equal(shardOf("shop/web-1", 16), shardOf("shop/web-1", 16));
    assert.equal(shardOf("", 16), 0x811c9dc5 % 16);
    const keys = kindShardKeys("EndpointSlice");
    assert.equal(keys.length, 16);
    fc.assert(fc.property(fc.string(), (name) => keys.includes(kindShardKey("EndpointSlice", name))));
  });

  it("spreads names over every shard", () => {
    const names = Array.from({ length: 1000 }, (_, i) => `ns-${i % 37}/svc-${i}-abcde`);
    const counts = new Map<number, number>();
    for (const name of names) counts.set(shardOf(name, 16), (counts.get(shardOf(name, 16)) ?? 0) + 1);
    assert.equal(counts.size, 16);
    assert.ok(Math.max(...counts.values()) < 2 * (1000 / 16), "no shard gets twice its share");
  });
});

describe("ShardMerge", () => {
  it("reads shards as one partition sorted by nsName, at any page size, and resumes after any position", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.tuple(
            fc.constantFrom("a", "b", "kube-system", "z"),
            fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,8}$/),
          ),
          { selector: ([ns, name]) => `${ns}/${name}`, maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 7 }),
        fc.nat(),
        async (pairs, limit, cutAt) => {
          const names = pairs.map(([ns, name]) => `${ns}/${name}`);
          const expected = [...names].sort(compareUtf8);
          const shards = sharded(names);
          const read = shardReader(shards);
          const all = await drain(
            new ShardMerge({ shards: kindShardKeys("EndpointSlice"), read, sortKey: "nsName" }),
            limit,
          );
          assert.deepEqual(all, expected);
          if (expected.length === 0) return;
          const at = expected[cutAt % expected.length] as string;
          const [namespace, name] = at.split("/");
          const resumed = await drain(
            new ShardMerge({
              shards: kindShardKeys("EndpointSlice"),
              read,
              sortKey: "nsName",
              after: { sortKey: at, pk: `EndpointSlice#${namespace}`, sk: String(name) },
            }),
            limit,
          );
          assert.deepEqual(resumed, expected.slice((cutAt % expected.length) + 1));
        },
      ),
      { seed: 11, numRuns: 200 },
    );
  });

  it("knows it is at the end without another read once every shard ended", async () => {
    const reads: string[] = [];
    const shards = sharded(["a/x", "b/y"]);
    const merge = new ShardMerge({
      shards: [...shards.keys()],
      read: shardReader(shards, reads),
      sortKey: "nsName",
    });
    assert.equal(merge.mayHaveMore, true);
    assert.equal((await merge.peek(10))?.nsName, "a/x");
    merge.advance();
    assert.equal((await merge.peek(10))?.nsName, "b/y");
    merge.advance();
    assert.equal(merge.mayHaveMore, false);
    const before = reads.length;
    assert.equal(await merge.peek(10), undefined);
    assert.equal(reads.length, before);
  });

  it("reads no more than its budget, and says when the budget, not the end, stopped it", async () => {
    const names = Array.from({ length: 200 }, (_, i) => `ns/n-${String(i).padStart(3, "0")}`);
    const shards = sharded(names);
    const reads: string[] = [];
    let itemsRead = 0;
    const read = shardReader(shards, reads);
    const counting: ShardReader = async (shard, page) => {
      const result = await read(shard, page);
      itemsRead += result.items.length;
      return result;
    };
    const merge = new ShardMerge({
      shards: kindShardKeys("EndpointSlice"),
      read: counting,
      sortKey: "nsName",
      maxReads: 64,
    });
    const got = await drain(merge, 5);
    assert.ok(itemsRead <= 64, `${itemsRead}`);
    assert.equal(merge.stoppedByBudget, true);
    assert.deepEqual(got, [...names].sort(compareUtf8).slice(0, got.length), "what it returned is a prefix");
    assert.ok(got.length > 0);
  });
});
