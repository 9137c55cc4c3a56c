import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Endpoint, EndpointSlice } from "#shared/core/model.ts";
import { MAX_MESSAGE_BYTES, messageBody } from "#shared/fanout/change-publisher.ts";
import { agentScope, routeChange, scopesForWatcher } from "#shared/fanout/change-routing.ts";
import { MalformedStreamRecordError, objectChangeFromImages } from "#shared/fanout/stored-change.ts";

function endpoint(name: string, zone: string, ready = true): Endpoint {
  return {
    addresses: [`10.0.0.${name.length}`],
    conditions: { ready, serving: ready, terminating: false },
    zone,
    targetRef: { kind: "Pod", namespace: "shop", name, uid: `u-${name}` },
  };
}

function slice(rv: string, endpoints: Endpoint[]): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-1",
      namespace: "shop",
      labels: { "kubernetes.io/service-name": "web" },
      resourceVersion: rv,
    },
    addressType: "IPv4",
    endpoints,
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

describe("change routing", () => {
  const zones = ["a", "b", "c"];

  it("sends a full slice to the EndpointSlice scope and only changed zone views to zone scopes", () => {
    const before = slice("1", [endpoint("p1", "a"), endpoint("p22", "b")]);
    const after = slice("2", [endpoint("p1", "a", false), endpoint("p22", "b")]);
    const routed = routeChange({ kind: "EndpointSlice", before, after, sourceTimeMs: 5 }, zones);
    assert.deepEqual(
      routed.map((r) => [
        r.scope,
        r.message.type,
        r.message.object.kind === "EndpointSlice" ? (r.message.object as EndpointSlice).endpoints.length : -1,
      ]),
      [
        ["EndpointSlice", "MODIFIED", 2],
        ["EndpointSlice@a", "MODIFIED", 1],
        ["Agent@a", "MODIFIED", 1],
      ],
    );
    assert.equal(routed[1]?.message.zone, "a");
    assert.equal(routed[2]?.message, routed[1]?.message, "the agent scope carries the zone view itself");
    assert.equal(routed[0]?.message.resourceVersion, "2");
    assert.equal(routed[0]?.message.sourceTimeMs, 5);
  });

  it("adds and deletes a zone's view as its first endpoint arrives and its last leaves", () => {
    const before = slice("1", [endpoint("p1", "a")]);
    const after = slice("2", [endpoint("p22", "b")]);
    const routed = routeChange({ kind: "EndpointSlice", before, after, sourceTimeMs: 5 }, zones);
    assert.deepEqual(
      routed.map((r) => [r.scope, r.message.type]),
      [
        ["EndpointSlice", "MODIFIED"],
        ["EndpointSlice@a", "DELETED"],
        ["Agent@a", "DELETED"],
        ["EndpointSlice@b", "ADDED"],
        ["Agent@b", "ADDED"],
      ],
    );
  });

  it("routes Cilium objects to the Cilium scope and every zone's agent scope, deletions with their last state", () => {
    const identity = {
      apiVersion: "cilium.io/v2" as const,
      kind: "CiliumIdentity" as const,
      metadata: { name: "256", labels: {}, resourceVersion: "9" },
      "security-labels": { "k8s:app": "web" },
    };
    const routed = routeChange(
      { kind: "CiliumIdentity", before: identity, after: undefined, sourceTimeMs: 1 },
      zones,
    );
    assert.deepEqual(
      routed.map((r) => [r.scope, r.message.type, r.message.object.metadata.name]),
      [
        ["Cilium", "DELETED", "256"],
        ["Agent@a", "DELETED", "256"],
        ["Agent@b", "DELETED", "256"],
        ["Agent@c", "DELETED", "256"],
      ],
    );
    assert.ok(routed.every((r) => r.message === routed[0]?.message && r.message.zone === undefined));
    assert.deepEqual(
      routeChange({ kind: "CiliumIdentity", before: identity, after: undefined, sourceTimeMs: 1 }, []).map(
        (r) => r.scope,
      ),
      ["Cilium"],
      "no zones, no agent scopes",
    );
  });

  it("does not send a zone's agent scope a slice change outside its zone", () => {
    const before = slice("1", [endpoint("p1", "a"), endpoint("p22", "b")]);
    const after = slice("2", [endpoint("p1", "a"), endpoint("p22", "b", false)]);
    const scopes = routeChange({ kind: "EndpointSlice", before, after, sourceTimeMs: 5 }, zones).map(
      (r) => r.scope,
    );
    assert.deepEqual(scopes, ["EndpointSlice", "EndpointSlice@b", "Agent@b"]);
  });

  it("subscribes watchers to scopes, zone-only ones to their zone's view", () => {
    assert.equal(agentScope("eu-west-1a"), "Agent@eu-west-1a");
    assert.deepEqual(scopesForWatcher(["EndpointSlice"], "a", false), ["EndpointSlice"]);
    assert.deepEqual(scopesForWatcher(["EndpointSlice"], "a", true), ["EndpointSlice@a"]);
    assert.deepEqual(scopesForWatcher(["EndpointSlice"], undefined, true), ["EndpointSlice"]);
    assert.deepEqual(scopesForWatcher(["CiliumEndpointSlice", "CiliumIdentity"], "a", true), ["Cilium"]);
    assert.deepEqual(scopesForWatcher(["CiliumIdentity"], "a", false), ["Cilium"]);
    assert.deepEqual(scopesForWatcher([], "a", true), []);
  });

  it("gives a zone-only node agent that wants slices and a Cilium kind its zone's agent scope alone", () => {
    const all = ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"] as const;
    assert.deepEqual(scopesForWatcher(all, "a", true), ["Agent@a"]);
    assert.deepEqual(scopesForWatcher(["CiliumIdentity", "EndpointSlice"], "b", true), ["Agent@b"]);
    assert.deepEqual(scopesForWatcher(["EndpointSlice", "CiliumEndpointSlice"], "c", true), ["Agent@c"]);
    // Not zone-only, or no zone to be zone-only in: the full scopes, as before.
    assert.deepEqual(scopesForWatcher(all, "a", false), ["EndpointSlice", "Cilium"]);
    assert.deepEqual(scopesForWatcher(all, undefined, true), ["EndpointSlice", "Cilium"]);
  });

  it("reads stream images and replaces an oversized object by a reference", () => {
    const big = slice(
      "3",
      Array.from({ length: 2000 }, (_, i) => endpoint(`pod-with-a-long-name-${i}`, "a")),
    );
    const change = objectChangeFromImages(undefined, {
      kind: "EndpointSlice",
      object: JSON.stringify(big),
      sourceTimeMs: 42,
    });
    assert.equal(change.before, undefined);
    assert.equal(change.sourceTimeMs, 42);
    const [routed] = routeChange(change, []);
    assert.ok(routed !== undefined);
    const body = messageBody(routed.message);
    assert.ok(Buffer.byteLength(body) <= MAX_MESSAGE_BYTES);
    assert.deepEqual(JSON.parse(body).reference, { name: "web-1", namespace: "shop" });
    assert.throws(() => objectChangeFromImages(undefined, { kind: "Pod", object: "{}" }), /unknown kind/);
    for (const object of [
      "{",
      "{}",
      '{"kind":"EndpointSlice","metadata":{"name":"x"}}',
      '{"kind":"CiliumEndpointSlice"}',
    ])
      assert.throws(
        () => objectChangeFromImages(undefined, { kind: "EndpointSlice", object }),
        MalformedStreamRecordError,
        object,
      );
  });
});
