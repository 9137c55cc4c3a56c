/**
 * The live pass's count of the fan-out's object writes: a stream batch retried by the event source
 * (after a failed invocation) carries records already counted; each is one write, not two.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DynamoDBStreamEvent } from "aws-lambda";
import { FanoutTally } from "#scripts/bench/fanout-tally.ts";

const SLICES = "arn:aws:dynamodb:us-east-1:000000000000:table/slices/stream/1";
const IDENTITIES = "arn:aws:dynamodb:us-east-1:000000000000:table/identities/stream/1";

function batch(stream: string, ...sequences: string[]): DynamoDBStreamEvent {
  return {
    Records: sequences.map((sequence) => ({
      eventID: `${stream}-${sequence}`,
      eventSourceARN: stream,
      dynamodb: { SequenceNumber: sequence },
    })),
  };
}

describe("FanoutTally", () => {
  it("counts a retried stream batch's records once, its invocations every time", () => {
    const tally = new FanoutTally();
    tally.add(batch(SLICES, "100", "101", "102"), 30); // the handler threw: retried whole
    tally.add(batch(SLICES, "100", "101", "102"), 20);
    tally.add(batch(SLICES, "101", "102"), 10); // a partial retry from the failed item
    tally.add(batch(SLICES, "103"), 5);
    assert.equal(tally.records, 4);
    assert.equal(tally.invocations, 4);
    assert.equal(tally.retriedInvocations, 2);
    assert.equal(tally.ms, 65);
  });

  it("keeps records of two tables' streams apart when their sequence numbers coincide", () => {
    const tally = new FanoutTally();
    tally.add(batch(SLICES, "100"), 1);
    tally.add(batch(IDENTITIES, "100"), 1);
    tally.add({ Records: [] }, 1);
    assert.equal(tally.records, 2);
    assert.equal(tally.retriedInvocations, 0);
  });
});
