/**
 * The ipcache's choice among pods claiming one IP does not depend on the order a store returns
 * them in, and follows its stated preferences.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareClaims, type IPClaim, winningClaim } from "#shared/api/ipcache-claims.ts";

const claimArbitrary: fc.Arbitrary<IPClaim> = fc.record({
  namespace: fc.constantFrom("a", "b"),
  name: fc.constantFrom("p", "q", "r"),
  resourceVersion: fc.integer({ min: 1, max: 20 }).map(String),
  pod: fc.record({ hostNetwork: fc.boolean(), terminating: fc.boolean() }),
});

describe("ipcache claims", () => {
  it("the winner is the same in every order, and no other claim ranks before it", () => {
    const claimsInTwoOrders = fc
      .array(claimArbitrary, { minLength: 1, maxLength: 8 })
      .chain((claims) =>
        fc.tuple(
          fc.constant(claims),
          fc.shuffledSubarray(claims, { minLength: claims.length, maxLength: claims.length }),
        ),
      );
    fc.assert(
      fc.property(claimsInTwoOrders, ([claims, shuffled]) => {
        const winner = winningClaim(claims);
        assert.ok(winner !== undefined);
        assert.equal(compareClaims(winningClaim(shuffled) as IPClaim, winner), 0);
        for (const claim of claims) assert.ok(compareClaims(winner, claim) <= 0);
      }),
    );
  });

  it("prefers a pod's own IP, then a pod not terminating, then the newest resourceVersion", () => {
    const claim = (rv: string, hostNetwork = false, terminating = false): IPClaim => ({
      namespace: "a",
      name: `p${rv}`,
      resourceVersion: rv,
      pod: { hostNetwork, terminating },
    });
    assert.equal(winningClaim([claim("9", true), claim("2")])?.name, "p2");
    assert.equal(winningClaim([claim("9", false, true), claim("2")])?.name, "p2");
    assert.equal(winningClaim([claim("9"), claim("10")])?.name, "p10");
    assert.equal(winningClaim([]), undefined);
  });
});
