import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CiliumEndpointSlice, CoreCiliumEndpoint, Endpoint, EndpointSlice } from "#shared/core/model.ts";
import { bundleMessages, coalesceChanges, type RecordChange } from "#shared/fanout/bundle-publisher.ts";
import { MAX_MESSAGE_BYTES } from "#shared/fanout/change-publisher.ts";
import { agentScope, zoneScope } from "#shared/fanout/change-routing.ts";
import { applyBundledChange } from "#shared/fanout/slice-delta.ts";
import { zoneViewDigest, zoneViewSum } from "#shared/fanout/zone-view-sum.ts";
import { parseBundle } from "#test/support/bundles.ts";

function entry(index: number, id = 1000): CoreCiliumEndpoint {
  return {
    name: `pod-${index}`,
    id,
    networking: { addressing: [{ ipv4: `10.0.${index >> 8}.${index & 255}` }] },
  };
}

function ces(name: string, rv: string, entries: CoreCiliumEndpoint[]): CiliumEndpointSlice {
  return {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: { name, resourceVersion: rv },
    namespace: "shop",
    endpoints: entries,
  };
}

const SCOPES = new Set(["Cilium", "EndpointSlice"]);

function recordChange(
  record: number,
  before: CiliumEndpointSlice | undefined,
  after: CiliumEndpointSlice | undefined,
): RecordChange {
  return { record, change: { kind: "CiliumEndpointSlice", before, after, sourceTimeMs: 100 + record } };
}

describe("delivery bundles", () => {
  it("merges one object's consecutive changes into one, but not across its deletion", () => {
    const v1 = ces("a", "1", [entry(1)]);
    const v2 = ces("a", "2", [entry(1), entry(2)]);
    const v3 = ces("a", "3", [entry(2)]);
    const other = ces("b", "7", [entry(9)]);
    const merged = coalesceChanges([
      recordChange(0, v1, v2),
      recordChange(1, undefined, other),
      recordChange(2, v2, v3),
      recordChange(3, v3, undefined),
      recordChange(4, undefined, v1),
      recordChange(5, undefined, ces("c", "1", [])),
      recordChange(6, ces("c", "1", []), undefined),
    ]);
    assert.deepEqual(
      merged.map(({ record, change }) => [
        record,
        change.before?.metadata.resourceVersion,
        change.after?.metadata.resourceVersion,
        change.sourceTimeMs,
      ]),
      [
        [0, "1", undefined, 100],
        [1, undefined, "7", 101],
        [4, undefined, "1", 104],
      ],
    );
  });

  it("cuts a scope's bundle into messages under the size limit, in order, with their first record", () => {
    const changes: RecordChange[] = [];
    for (let i = 0; i < 40; i++) {
      const entries = Array.from({ length: 50 }, (_, k) => entry(i * 50 + k));
      changes.push(recordChange(i, undefined, ces(`s-${i}`, String(i + 1), entries)));
    }
    const maxBytes = 20_000;
    const messages = bundleMessages(changes, [], SCOPES, maxBytes);
    assert.ok(messages.length > 1);
    const replayed: string[] = [];
    for (const message of messages) {
      assert.ok(Buffer.byteLength(message.body) <= maxBytes);
      const bundle = parseBundle(message.body);
      assert.ok(bundle !== undefined);
      assert.equal(bundle.scope, "Cilium");
      assert.equal(message.firstRecord, Number(bundle.changes[0]?.resourceVersion) - 1);
      assert.equal(message.changes, bundle.changes.length);
      replayed.push(...bundle.changes.map((c) => c.name));
    }
    assert.deepEqual(
      replayed,
      changes.map((c) => c.change.after?.metadata.name),
    );
  });

  it("sends a change too big for any message as a reference the watcher resolves by re-reading", () => {
    const entries = Array.from({ length: 5000 }, (_, k) => entry(k, 1_000_000 + k));
    const big = ces("big", "5", entries);
    assert.ok(Buffer.byteLength(JSON.stringify(big)) > MAX_MESSAGE_BYTES);
    const [message, ...rest] = bundleMessages(
      [recordChange(3, undefined, big), recordChange(4, undefined, ces("small", "6", []))],
      [],
      SCOPES,
    );
    assert.equal(rest.length, 0);
    const bundle = parseBundle(message?.body ?? "");
    assert.deepEqual(
      bundle?.changes.map((c) => [c.name, c.reference, c.object === undefined]),
      [
        ["big", true, true],
        ["small", undefined, false],
      ],
    );
    assert.deepEqual(applyBundledChange(undefined, bundle?.changes[0] as never), {
      outcome: "gap",
      reason: "reference",
    });
  });

  it("skips scopes without a topic", () => {
    assert.deepEqual(
      bundleMessages([recordChange(0, undefined, ces("a", "1", []))], [], new Set(["EndpointSlice"])),
      [],
    );
  });

  it("bundles a node agent's Cilium changes and its zone's views into one message per zone", () => {
    const zones = ["zone-a", "zone-b"];
    const webEndpoint = (name: string, zone: string, ready = true): Endpoint => ({
      addresses: [`10.1.0.${name.length}`],
      conditions: { ready, serving: ready, terminating: false },
      zone,
      targetRef: { kind: "Pod", namespace: "shop", name, uid: `uid-${name}` },
    });
    const web = (rv: string, endpoints: Endpoint[]): EndpointSlice => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "web-1", namespace: "shop", labels: {}, resourceVersion: rv },
      addressType: "IPv4",
      endpoints,
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
    const sliceBefore = web("4", [webEndpoint("p1", "zone-a"), webEndpoint("p22", "zone-b")]);
    const sliceAfter = web("5", [webEndpoint("p1", "zone-a", false), webEndpoint("p22", "zone-b")]);
    const changes: RecordChange[] = [
      recordChange(0, ces("c1", "1", [entry(1)]), ces("c1", "2", [entry(1), entry(2)])),
      {
        record: 1,
        change: { kind: "EndpointSlice", before: sliceBefore, after: sliceAfter, sourceTimeMs: 7 },
      },
      recordChange(2, ces("c1", "2", [entry(1), entry(2)]), ces("c1", "3", [entry(2)])),
      recordChange(3, undefined, ces("c2", "1", [entry(3)])),
    ];
    const scopes = new Set([
      "EndpointSlice",
      "Cilium",
      ...zones.flatMap((z) => [zoneScope(z), agentScope(z)]),
    ]);
    const messages = bundleMessages(coalesceChanges(changes), zones, scopes);
    const byScope = new Map(messages.map((m) => [m.scope, m]));
    assert.equal(byScope.size, messages.length, "one message per scope");
    const bundleOf = (scope: string) => parseBundle(byScope.get(scope)?.body ?? "");
    const cilium = bundleOf("Cilium")?.changes ?? [];
    const zoneA = bundleOf(zoneScope("zone-a"))?.changes ?? [];
    assert.deepEqual(
      cilium.map((c) => [c.name, c.resourceVersion, c.previousResourceVersion]),
      [
        ["c1", "3", "1"],
        ["c2", "1", undefined],
      ],
      "c1's two changes merged once, not once per scope",
    );
    assert.equal(zoneA.length, 1);
    assert.ok(zoneA[0]?.baseDigest !== undefined && zoneA[0].patch !== undefined, "zone patch with its base");
    // Agent@zone-a: exactly the Cilium bundle and zone-a's views, in record order.
    const agentA = bundleOf(agentScope("zone-a"));
    assert.equal(agentA?.scope, "Agent@zone-a");
    assert.deepEqual(agentA?.changes, [cilium[0], zoneA[0], cilium[1]]);
    assert.equal(byScope.get(agentScope("zone-a"))?.changes, 3);
    assert.equal(byScope.get(agentScope("zone-a"))?.firstRecord, 0);
    // zone-b's part of the slice did not change: its agents hear only of the Cilium changes.
    assert.equal(byScope.has(zoneScope("zone-b")), false);
    assert.deepEqual(bundleOf(agentScope("zone-b"))?.changes, cilium);
    // The agent applies both kinds from its one bundle.
    const zoneCut = (slice: EndpointSlice) => ({
      ...slice,
      endpoints: slice.endpoints.filter((e) => e.zone === "zone-a"),
    });
    assert.deepEqual(applyBundledChange(zoneCut(sliceBefore), agentA?.changes[1] as never), {
      outcome: "applied",
      object: zoneCut(sliceAfter),
    });
    assert.deepEqual(applyBundledChange(ces("c1", "1", [entry(1)]), agentA?.changes[0] as never), {
      outcome: "applied",
      object: ces("c1", "3", [entry(2)]),
    });
  });

  it("sends a one-endpoint change of a 100-endpoint slice in 3 zones as a zone patch, not the zone view", (t) => {
    const zones = ["zone-a", "zone-b", "zone-c"];
    const endpointOf = (index: number, ready: boolean): Endpoint => ({
      addresses: [`10.1.${index >> 8}.${index & 255}`],
      conditions: { ready, serving: ready, terminating: false },
      nodeName: `ip-10-0-${index % 20}-1.ec2.internal`,
      zone: zones[index % 3] as string,
      targetRef: { kind: "Pod", namespace: "shop", name: `web-7c9f8d6b5-${index}`, uid: `3f1c9a2e-${index}` },
    });
    const sliceOf = (rv: string, endpoints: Endpoint[]): EndpointSlice => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: "web-x7k2p",
        namespace: "shop",
        labels: {
          "kubernetes.io/service-name": "web",
          "endpointslice.kubernetes.io/managed-by": "sliceline",
        },
        resourceVersion: rv,
      },
      addressType: "IPv4",
      endpoints,
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
    const before = sliceOf(
      "1763000000000001",
      Array.from({ length: 100 }, (_, i) => endpointOf(i, true)),
    );
    const after = sliceOf(
      "1763000000000002",
      before.endpoints.map((e, i) => (i === 42 ? endpointOf(i, false) : e)),
    );
    const changed = zones[42 % 3] as string;
    const messages = bundleMessages(
      [{ record: 0, change: { kind: "EndpointSlice", before, after, sourceTimeMs: 1 } }],
      zones,
      new Set(zones.map(zoneScope)),
    );
    assert.deepEqual(
      messages.map((m) => m.scope),
      [zoneScope(changed)],
      "only the changed endpoint's zone hears of it",
    );
    const change = parseBundle(messages[0]?.body ?? "")?.changes[0];
    assert.ok(change?.patch !== undefined && change.baseDigest !== undefined);
    assert.equal(change.object, undefined);
    const cut = (slice: EndpointSlice): EndpointSlice => ({
      ...slice,
      endpoints: slice.endpoints.filter((e) => e.zone === changed),
    });
    assert.equal(change.baseDigest, zoneViewDigest(cut(before)));
    assert.equal(change.baseViewSum, zoneViewSum(cut(before)));
    const applied = applyBundledChange(cut(before), change);
    assert.deepEqual(applied, { outcome: "applied", object: cut(after) });

    const patchBytes = Buffer.byteLength(messages[0]?.body ?? "");
    const wholeBytes = Buffer.byteLength(
      JSON.stringify({
        bundle: 1,
        scope: zoneScope(changed),
        changes: [
          { ...change, patch: undefined, baseDigest: undefined, baseViewSum: undefined, object: cut(after) },
        ],
      }),
    );
    t.diagnostic(
      `zone message: patch ${patchBytes} B, whole zone view ${wholeBytes} B (${(wholeBytes / patchBytes).toFixed(1)}x)`,
    );
    assert.ok(patchBytes * 4 <= wholeBytes, `${patchBytes} B vs ${wholeBytes} B`);
  });
});
