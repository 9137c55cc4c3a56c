import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  authorizeWatcherCaller,
  DEFAULT_NODE_PRINCIPAL,
  DENY_ALL_POLICY,
  OPEN_POLICY,
  principalMatches,
  type WatcherAuthorizationPolicy,
  watcherAuthorizationPolicySchema,
} from "#shared/api/watcher-authorization.ts";

const POLICY: WatcherAuthorizationPolicy = {
  mode: "principal",
  nodePrincipals: [DEFAULT_NODE_PRINCIPAL],
  adminPrincipals: ["arn:aws:iam::111122223333:role/sliceline-admin", "arn:aws:sts::*:assumed-role/ops/*"],
  capPerCaller: 3,
};
const session = (role: string, name: string, account = "111122223333") =>
  `arn:aws:sts::${account}:assumed-role/${role}/${name}`;

describe("authorizeWatcherCaller", () => {
  it("binds a node to the role session named after it, and nothing else", () => {
    const node = "ip-10-0-0-1.ec2.internal";
    const own = authorizeWatcherCaller(POLICY, session("sliceline-node", node), node);
    assert.deepEqual(own, {
      allowed: true,
      owner: { principal: session("sliceline-node", node), admin: false, cap: 3 },
    });
    for (const principal of [
      session("sliceline-node", "ip-10-0-0-1-ec2-internal"),
      session("sliceline-node", `${node}x`),
      session("sliceline-node", "ip-10-0-0-1"),
      session("other-role", node),
      `arn:aws:iam::111122223333:user/${node}`,
      `arn:aws:sts::111122223333:assumed-role/sliceline-node/x/${node}`,
      "",
    ]) {
      const decision = authorizeWatcherCaller(POLICY, principal, node);
      assert.equal(decision.allowed, false, principal);
    }
    assert.equal(authorizeWatcherCaller(POLICY, undefined, node).allowed, false);
  });

  it("lets admin principals act on any node, uncapped", () => {
    for (const principal of ["arn:aws:iam::111122223333:role/sliceline-admin", session("ops", "alice")]) {
      const decision = authorizeWatcherCaller(POLICY, principal, "any-node");
      assert.deepEqual(decision, { allowed: true, owner: { principal, admin: true, cap: undefined } });
    }
    assert.equal(authorizeWatcherCaller(POLICY, session("ops", "a/b"), "n").allowed, false);
  });

  it("lets everyone through as one anonymous uncapped owner when the mode is none, and nobody when unset", () => {
    assert.deepEqual(authorizeWatcherCaller(OPEN_POLICY, undefined, "n1"), {
      allowed: true,
      owner: { principal: "anonymous", admin: false, cap: undefined },
    });
    assert.equal(
      authorizeWatcherCaller(DENY_ALL_POLICY, session("sliceline-node", "n1"), "n1").allowed,
      false,
    );
  });

  it("reads patterns literally but for {node} and *", () => {
    assert.equal(principalMatches("arn:a.b:{node}", "arn:aXb:n", "n"), false);
    assert.equal(principalMatches("arn:(x)+:{node}", "arn:(x)+:n", "n"), true);
    assert.equal(principalMatches("arn:*:{node}", "arn::n", "n"), true);
    assert.equal(principalMatches("arn:*:{node}", "arn:a:b:n", "n"), false);
  });

  it("validates the policy the stack hands over", () => {
    assert.equal(watcherAuthorizationPolicySchema.safeParse({ mode: "principal" }).success, true);
    assert.equal(
      watcherAuthorizationPolicySchema.safeParse({ mode: "principal", adminPrincipals: ["x/{node}"] })
        .success,
      false,
    );
    assert.equal(watcherAuthorizationPolicySchema.safeParse({ mode: "maybe" }).success, false);
  });
});
