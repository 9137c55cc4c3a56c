/**
 * The identity cardinality guard's numbers: range use from a count, the cached reading a handler
 * reports with every invocation, and the write-rate window of /v1/stats against the revision clock.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import fc from "fast-check";
import { CachedIdentityRangeUse } from "#shared/adapters/dynamodb/identity-range-reader.ts";
import { resourceVersionAt, writtenSince } from "#shared/api/stats-rates.ts";
import { identityRangeUse } from "#shared/core/identity/identity-range-use.ts";
import { RevisionClock } from "#shared/core/revision-clock.ts";

describe("identity range use", () => {
  it("is measured against Cilium's cluster-local range 256..65535 by default", () => {
    assert.deepEqual(identityRangeUse(0), {
      inUse: 0,
      rangeMin: 256,
      rangeMax: 65535,
      rangeSize: 65280,
      usedPercent: 0,
    });
    assert.equal(identityRangeUse(52_224).usedPercent, 80);
    assert.equal(identityRangeUse(62_016).usedPercent, 95);
    assert.equal(identityRangeUse(65_280).usedPercent, 100);
  });

  it("takes a configured range, and counts nothing less than zero", () => {
    assert.deepEqual(identityRangeUse(3, 1000, 1009), {
      inUse: 3,
      rangeMin: 1000,
      rangeMax: 1009,
      rangeSize: 10,
      usedPercent: 30,
    });
    assert.equal(identityRangeUse(-4).inUse, 0);
    assert.equal(identityRangeUse(Number.NaN).inUse, 0);
    assert.throws(() => identityRangeUse(1, 10, 9), RangeError);
  });

  it("keeps the percentage between 0 and 100 for any count within the range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65_280 }), (count) => {
        const use = identityRangeUse(count);
        assert.ok(use.usedPercent >= 0 && use.usedPercent <= 100);
        assert.ok(Math.abs(use.usedPercent - (100 * count) / 65_280) <= 0.005 + 1e-9);
      }),
    );
  });
});

describe("cached identity range use", () => {
  function documents(answers: (() => unknown)[]) {
    let calls = 0;
    const client = {
      send: async () => {
        const answer = answers[Math.min(calls, answers.length - 1)] as () => unknown;
        calls++;
        return answer();
      },
    } as unknown as DynamoDBDocumentClient;
    return { client, calls: () => calls };
  }

  it("reads at most once per interval and keeps the last value when a read fails", async () => {
    const fake = documents([
      () => ({ Item: { allocated: 10 } }),
      () => {
        throw new Error("throttled");
      },
      () => ({ Item: { allocated: 12 } }),
    ]);
    const cached = new CachedIdentityRangeUse(fake.client, "identities", 60_000);
    assert.equal((await cached.current(0))?.inUse, 10);
    assert.equal((await cached.current(59_999))?.inUse, 10);
    assert.equal(fake.calls(), 1);
    assert.equal((await cached.current(60_000))?.inUse, 10, "a failed read keeps the last value");
    assert.equal((await cached.current(120_000))?.inUse, 12);
    assert.equal(fake.calls(), 3);
  });

  it("has nothing to report before its first successful read", async () => {
    const fake = documents([
      () => {
        throw new Error("down");
      },
    ]);
    assert.equal(await new CachedIdentityRangeUse(fake.client, "identities").current(0), undefined);
  });
});

describe("the stats write window", () => {
  it("counts a version the revision clock issued at or after the window start, and none before", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_600_000_000_000, max: 4_000_000_000_000 }),
        fc.integer({ min: -600_000, max: 600_000 }),
        (windowStartMs, offsetMs) => {
          const writtenAt = windowStartMs + offsetMs;
          const version = new RevisionClock(() => writtenAt).next();
          assert.equal(writtenSince(version, resourceVersionAt(windowStartMs)), offsetMs >= 0);
        },
      ),
    );
  });

  it("treats an object without a version as not written in the window", () => {
    assert.equal(writtenSince(undefined, resourceVersionAt(0)), false);
  });
});
