import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  attributeValueBytes,
  documentItemBytes,
  itemWriteUnits,
  unitsOfBytes,
  WriteUnitLedger,
  wireItemBytes,
} from "#scripts/bench/write-units.ts";

describe("write units", () => {
  it("sizes items as DynamoDB does: names plus values, binary raw, maps and lists with overhead", () => {
    assert.equal(attributeValueBytes({ S: "héllo" }), 6);
    assert.equal(attributeValueBytes({ B: Buffer.from("abcd").toString("base64") }), 4);
    assert.equal(attributeValueBytes({ N: "12345" }), 4);
    assert.equal(attributeValueBytes({ BOOL: true }), 1);
    assert.equal(attributeValueBytes({ L: [{ S: "ab" }, { S: "c" }] }), 3 + (1 + 2) + (1 + 1));
    assert.equal(attributeValueBytes({ M: { a: { S: "xy" } } }), 3 + (1 + 1 + 2));
    assert.equal(wireItemBytes({ pk: { S: "abc" }, n: { N: "7" } }), 2 + 3 + 1 + 2);
  });

  it("sizes a document-form item like its wire form", () => {
    const document = {
      pk: "EndpointSlice#shop",
      n: 1234567,
      flag: true,
      blob: new Uint8Array([1, 2, 3]),
      record: { labels: { app: "web" }, list: ["a", "bc"] },
    };
    const wire = {
      pk: { S: "EndpointSlice#shop" },
      n: { N: "1234567" },
      flag: { BOOL: true },
      blob: { B: Buffer.from([1, 2, 3]).toString("base64") },
      record: { M: { labels: { M: { app: { S: "web" } } }, list: { L: [{ S: "a" }, { S: "bc" }] } } },
    };
    assert.equal(documentItemBytes(document), wireItemBytes(wire));
  });

  it("bills at least one unit per started KB", () => {
    assert.equal(unitsOfBytes(0), 1);
    assert.equal(unitsOfBytes(1024), 1);
    assert.equal(unitsOfBytes(1025), 2);
  });

  it("lands a write on the item's key and on each copying index it is in, and ranks keys", () => {
    const layout = { partitionKey: "pk", copyingIndexes: [{ name: "byKind", partitionKey: "kindShard" }] };
    const attributes: Record<string, string> = { pk: "EndpointSlice#a", kindShard: "EndpointSlice#3" };
    const units = itemWriteUnits("slices", layout, { bytes: 1500, keyOf: (a) => attributes[a] }, true);
    assert.deepEqual(units, [
      { key: "slices|EndpointSlice#a", units: 4 },
      { key: "slices/byKind|EndpointSlice#3", units: 4 },
    ]);
    const ledger = new WriteUnitLedger();
    ledger.add(units);
    ledger.add([{ key: "slices|EndpointSlice#a", units: 1 }]);
    assert.equal(ledger.total, 9);
    assert.deepEqual(ledger.busiest(1), [{ key: "slices|EndpointSlice#a", units: 5 }]);
    assert.deepEqual(JSON.parse(JSON.stringify(ledger)).total, 9);
    ledger.add([
      { key: "slices|EndpointSlice#b", units: 2 },
      { key: "state|watch#EndpointSlice#1", units: 3 },
      { key: "state|watch#CiliumIdentity#0", units: 1 },
      { key: "state|group#a", units: 1 },
    ]);
    assert.deepEqual(ledger.byKind(), [
      { key: "slices|EndpointSlice", units: 7 },
      { key: "slices/byKind|EndpointSlice", units: 4 },
      { key: "state|watch#EndpointSlice", units: 3 },
      { key: "state|group", units: 1 },
      { key: "state|watch#CiliumIdentity", units: 1 },
    ]);
  });
});
