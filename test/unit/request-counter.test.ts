import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { actionOf, writeUnitsOf } from "#scripts/bench/request-counter.ts";

const body = (value: unknown) => Buffer.from(JSON.stringify(value));
const item = (bytes: number) => ({ pk: { S: "p" }, data: { S: "x".repeat(bytes) } });

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

  it("bills a transaction's items twice, per started KB, times the table's index copies", () => {
    const transaction = body({
      TransactItems: [
        { Put: { TableName: "slices", Item: item(2500) } }, // 3 KB -> 3 units
        { Put: { TableName: "state", Item: item(10) } }, // 1 unit
      ],
    });
    assert.equal(writeUnitsOf("dynamodb:TransactWriteItems", transaction), 2 * 3 + 2 * 1);
    const copies = (table: string) => (table === "slices" ? 2 : 1);
    assert.equal(writeUnitsOf("dynamodb:TransactWriteItems", transaction, copies), 2 * 3 * 2 + 2 * 1);
  });

  it("bills puts and batch writes per item and table; reads and bad bodies write nothing", () => {
    const copies = (table: string) => (table === "slices" ? 2 : 1);
    assert.equal(
      writeUnitsOf("dynamodb:PutItem", body({ TableName: "slices", Item: item(1500) }), copies),
      4,
    );
    const batch = body({
      RequestItems: {
        slices: [{ PutRequest: { Item: item(100) } }, { DeleteRequest: { Key: { pk: { S: "a" } } } }],
        state: [{ PutRequest: { Item: item(5000) } }],
      },
    });
    assert.equal(writeUnitsOf("dynamodb:BatchWriteItem", batch, copies), 2 * 2 + 5);
    assert.equal(writeUnitsOf("dynamodb:Query", body({ TableName: "slices" }), copies), 0);
    assert.equal(writeUnitsOf("dynamodb:PutItem", Buffer.from("{not json")), 0);
  });
});
