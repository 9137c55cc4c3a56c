import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Endpoint, EndpointSlice } from "#shared/core/model.ts";
import { MAX_MESSAGE_BYTES, messageBody } from "#shared/fanout/change-publisher.ts";
import { routeChange, scopesForWatcher } from "#shared/fanout/change-routing.ts";
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
      ],
    );
    assert.equal(routed[1]?.message.zone, "a");
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
        ["EndpointSlice@b", "ADDED"],
      ],
    );
  });

  it("routes Cilium objects to the Cilium scope and deletions with their last state", () => {
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
      [["Cilium", "DELETED", "256"]],
    );
  });

  it("subscribes watchers to scopes, zone-only ones to their zone's view", () => {
    assert.deepEqual(scopesForWatcher(["EndpointSlice"], "a", false), ["EndpointSlice"]);
    assert.deepEqual(scopesForWatcher(["EndpointSlice"], "a", true), ["EndpointSlice@a"]);
    assert.deepEqual(scopesForWatcher(["CiliumEndpointSlice", "CiliumIdentity"], "a", true), ["Cilium"]);
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
