import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { actionOf, IndexKeyMemory, writeUnitsByKey, writeUnitsOf } from "#scripts/bench/request-counter.ts";
import type { TableWriteLayout } from "#scripts/bench/write-units.ts";

const body = (value: unknown) => Buffer.from(JSON.stringify(value));
/** An item of pk "p" whose size is `bytes` + 7 (names "pk", "data" and the key value). */
const item = (bytes: number, extra: Record<string, unknown> = {}) => ({
  pk: { S: "p" },
  data: { S: "x".repeat(bytes) },
  ...extra,
});
const layouts: Record<string, TableWriteLayout> = {
  slices: { partitionKey: "pk", copyingIndexes: [{ name: "byKind", partitionKey: "kind" }] },
  state: { partitionKey: "pk", copyingIndexes: [] },
};
const layoutOf = (table: string) => layouts[table];

describe("request counter", () => {
  it("names actions from X-Amz-Target (DynamoDB, Streams, SQS) and from the SNS form body", () => {
    assert.equal(
      actionOf("DynamoDB_20120810.TransactWriteItems", Buffer.alloc(0)),
      "dynamodb:TransactWriteItems",
    );
    assert.equal(actionOf("DynamoDBStreams_20120810.GetRecords", Buffer.alloc(0)), "streams:GetRecords");
    assert.equal(actionOf("AmazonSQS.ReceiveMessage", Buffer.alloc(0)), "sqs:ReceiveMessage");
    assert.equal(actionOf(undefined, Buffer.from("Action=PublishBatch&TopicArn=x")), "sns:PublishBatch");
    // Not first in the form, and a value that mentions the name (URL-encoded: no bare "&" or "=").
    const message = encodeURIComponent("a&Action=Subscribe");
    assert.equal(
      actionOf(undefined, Buffer.from(`TopicArn=x&Message=${message}&Action=Publish&Version=2010-03-31`)),
      "sns:Publish",
    );
    assert.equal(actionOf(undefined, Buffer.from("TopicArn=x")), "unknown:unknown");
  });

  it("bills a transaction's items twice, per started KB, again on each index that copies them", () => {
    const transaction = body({
      TransactItems: [
        { Put: { TableName: "slices", Item: item(2500, { kind: { S: "EndpointSlice" } }) } }, // 3 KB -> 3 units
        { Put: { TableName: "state", Item: item(10) } }, // 1 unit
        { ConditionCheck: { TableName: "slices", Key: { pk: { S: "q" } } } }, // a key: 1 unit, no copy
      ],
    });
    assert.equal(writeUnitsOf("dynamodb:TransactWriteItems", transaction), 2 * 3 + 2 * 1 + 2 * 1);
    assert.deepEqual(writeUnitsByKey("dynamodb:TransactWriteItems", transaction, layoutOf), [
      { key: "slices|p", units: 6 },
      { key: "slices/byKind|EndpointSlice", units: 6 },
      { key: "state|p", units: 2 },
      { key: "slices|q", units: 2 },
    ]);
  });

  it("writes a keys-only index entry when a create enters it or a delete leaves it, never on an update", () => {
    const keysOnly = (table: string): TableWriteLayout | undefined =>
      table === "slices"
        ? {
            partitionKey: "pk",
            copyingIndexes: [],
            keyIndexes: [{ name: "byKindShardKeys", partitionKey: "kindShard" }],
          }
        : undefined;
    const memory = new IndexKeyMemory();
    const slice = item(1500, { sk: { S: "s" }, kindShard: { S: "EndpointSlice#3" } }); // 2 units
    const put = (condition: string) =>
      body({
        TransactItems: [{ Put: { TableName: "slices", Item: slice, ConditionExpression: condition } }],
      });
    assert.deepEqual(
      writeUnitsByKey("dynamodb:TransactWriteItems", put("attribute_not_exists(pk)"), keysOnly, memory),
      [
        { key: "slices|p", units: 4 },
        { key: "slices/byKindShardKeys|EndpointSlice#3", units: 2 },
      ],
    );
    assert.deepEqual(
      writeUnitsByKey("dynamodb:TransactWriteItems", put("#rv = :expected"), keysOnly, memory),
      [{ key: "slices|p", units: 4 }],
    );
    const remove = body({
      TransactItems: [{ Delete: { TableName: "slices", Key: { pk: { S: "p" }, sk: { S: "s" } } } }],
    });
    assert.deepEqual(writeUnitsByKey("dynamodb:TransactWriteItems", remove, keysOnly, memory), [
      { key: "slices|p", units: 2 },
      { key: "slices/byKindShardKeys|EndpointSlice#3", units: 2 },
    ]);
    // Forgotten once deleted: a second delete of the key leaves nothing.
    assert.deepEqual(writeUnitsByKey("dynamodb:TransactWriteItems", remove, keysOnly, memory), [
      { key: "slices|p", units: 2 },
    ]);
  });

  it("skips a sparse index for items without its key, and counts binary attributes at their raw size", () => {
    const binary = { pk: { S: "p" }, objectBr: { B: Buffer.alloc(1500).toString("base64") } }; // 2,000 base64 chars
    assert.deepEqual(
      writeUnitsByKey("dynamodb:PutItem", body({ TableName: "slices", Item: binary }), layoutOf),
      [{ key: "slices|p", units: 2 }],
    );
  });

  it("bills puts and batch writes per item and table; reads and bad bodies write nothing", () => {
    const sliceItem = item(1500, { kind: { S: "k" } });
    assert.equal(
      writeUnitsOf("dynamodb:PutItem", body({ TableName: "slices", Item: sliceItem }), layoutOf),
      4,
    );
    const batch = body({
      RequestItems: {
        slices: [
          { PutRequest: { Item: item(100, { kind: { S: "k" } }) } },
          { DeleteRequest: { Key: { pk: { S: "a" } } } },
        ],
        state: [{ PutRequest: { Item: item(5000) } }],
      },
    });
    assert.equal(writeUnitsOf("dynamodb:BatchWriteItem", batch, layoutOf), 2 + 1 + 5);
    assert.equal(writeUnitsOf("dynamodb:Query", body({ TableName: "slices" }), layoutOf), 0);
    assert.equal(writeUnitsOf("dynamodb:PutItem", Buffer.from("{not json")), 0);
  });
});
