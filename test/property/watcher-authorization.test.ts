/**
 * The node binding holds for any node names and session names: a principal built from a
 * `{node}` pattern for node A authorizes A and never another node B; a caller matching no pattern
 * is denied; admins pass for every node.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  authorizeWatcherCaller,
  type WatcherAuthorizationPolicy,
} from "#shared/api/watcher-authorization.ts";
import { nodeNameSchema } from "#shared/api/watcher-registry.ts";

const nodeName = fc
  .array(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/), { minLength: 1, maxLength: 4 })
  .map((labels) => labels.join("."))
  .filter((name) => nodeNameSchema.safeParse(name).success);
const account = fc.stringMatching(/^[0-9]{12}$/);

const POLICY: WatcherAuthorizationPolicy = {
  mode: "principal",
  nodePrincipals: ["arn:aws:sts::*:assumed-role/sliceline-node/{node}", "arn:aws:iam::*:user/nodes/{node}"],
  adminPrincipals: ["arn:aws:iam::*:role/sliceline-admin"],
  capPerCaller: 10,
};

describe("authorizeWatcherCaller (property)", () => {
  it("authorizes a node's own principal for that node only", () => {
    fc.assert(
      fc.property(nodeName, nodeName, account, fc.boolean(), (a, b, acct, asUser) => {
        const principal = asUser
          ? `arn:aws:iam::${acct}:user/nodes/${a}`
          : `arn:aws:sts::${acct}:assumed-role/sliceline-node/${a}`;
        assert.equal(authorizeWatcherCaller(POLICY, principal, a).allowed, true);
        assert.equal(authorizeWatcherCaller(POLICY, principal, b).allowed, a === b);
      }),
      { numRuns: 500 },
    );
  });

  it("denies any other principal and passes admins everywhere", () => {
    fc.assert(
      fc.property(nodeName, fc.string({ maxLength: 80 }), account, (node, principal, acct) => {
        const decision = authorizeWatcherCaller(POLICY, principal, node);
        const expected =
          principal === `arn:aws:sts::${principal.split(":")[4]}:assumed-role/sliceline-node/${node}` ||
          principal === `arn:aws:iam::${principal.split(":")[4]}:user/nodes/${node}`;
        assert.equal(decision.allowed, expected && !(principal.split(":")[4] ?? "").includes("/"));
        const admin = authorizeWatcherCaller(POLICY, `arn:aws:iam::${acct}:role/sliceline-admin`, node);
        assert.equal(admin.allowed && admin.owner.admin, true);
      }),
      { numRuns: 500 },
    );
  });
});
