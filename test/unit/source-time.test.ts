import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MAX_SOURCE_TIME_AHEAD_MS, sentTimeOf, sourceTimeOf } from "#shared/pipeline/source-time.ts";

const NOW = 1_764_000_000_000;
const DAY = 24 * 60 * 60 * 1000;
const MAX_AGE = 23 * DAY;

describe("source times read off an SQS message", () => {
  it("takes a sane producer stamp", () => {
    assert.equal(sourceTimeOf(String(NOW - 1500), NOW - 1000, NOW, MAX_AGE), NOW - 1500);
    assert.equal(sourceTimeOf(String(NOW + 60_000), NOW, NOW, MAX_AGE), NOW + 60_000);
  });

  it("falls back to SentTimestamp for a stamp that is not a sane time (1e20, negative, far ahead, too old)", () => {
    for (const stamp of [
      "1e20",
      "-5",
      "0",
      "NaN",
      "Infinity",
      "abc",
      "",
      String(NOW + MAX_SOURCE_TIME_AHEAD_MS + 1),
      String(NOW - MAX_AGE - 1),
    ]) {
      assert.equal(sourceTimeOf(stamp, NOW - 1000, NOW, MAX_AGE), NOW - 1000, stamp);
    }
    assert.equal(sourceTimeOf(undefined, NOW - 1000, NOW, MAX_AGE), NOW - 1000);
  });

  it("never returns a time Date cannot print, whatever the attributes say", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.double().map(String), fc.bigInt().map(String)),
        fc.option(fc.string()),
        (stamp, sent) => {
          const sentMs = sentTimeOf(sent ?? undefined, NOW);
          const sourceMs = sourceTimeOf(stamp, sentMs, NOW, MAX_AGE);
          assert.doesNotThrow(() => new Date(sourceMs).toISOString());
          assert.doesNotThrow(() => new Date(sentMs).toISOString());
        },
      ),
    );
  });

  it("takes the earlier first-sent time a redriven dead letter carries", () => {
    assert.equal(sentTimeOf(String(NOW - 5), NOW, String(NOW - 20 * DAY)), NOW - 20 * DAY);
    assert.equal(sentTimeOf(String(NOW - 5), NOW, "1e20"), NOW - 5);
    assert.equal(sentTimeOf(String(NOW - 5), NOW, "oops"), NOW - 5);
  });

  it("takes SQS's SentTimestamp, or now when it is missing or absurd", () => {
    assert.equal(sentTimeOf(String(NOW - 5), NOW), NOW - 5);
    assert.equal(sentTimeOf(undefined, NOW), NOW);
    assert.equal(sentTimeOf("1e20", NOW), NOW);
  });
});
