/**
 * The delta format's round trip: a watcher holding `before` that applies the bundled change of
 * before -> after holds exactly `after` (order included), whatever changed; and at-least-once,
 * unordered delivery never leaves it anywhere but the latest version once it re-reads on gaps.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NamespaceCiliumEndpointSlices } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { ServiceSlices } from "#shared/core/endpointslice/service-slices.ts";
import type { CiliumEndpointSlice, CoreCiliumEndpoint, Endpoint, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { bundleMessages, coalesceChanges } from "#shared/fanout/bundle-publisher.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import { type ObjectChange, zoneScope } from "#shared/fanout/change-routing.ts";
import { applyBundledChange, bundledChangesOf } from "#shared/fanout/slice-delta.ts";
import { zoneViewDigest } from "#shared/fanout/zone-view-sum.ts";
import { parseBundle } from "#test/support/bundles.ts";
import { serviceRecord } from "#test/support/endpointslice-fixtures.ts";
import { rollingUpdateTrace } from "#test/support/rolling-update-trace.ts";

type SliceKind = "EndpointSlice" | "CiliumEndpointSlice";
const ZONES = ["a", "b", "c"];

/** One item, fully determined by its key and a variant number (what changes between versions). */
function endpoint(key: number, variant: number): Endpoint {
  const ready = variant % 2 === 0;
  return {
    addresses: [`10.${variant % 3}.${key >> 8}.${key & 255}`],
    conditions: { ready, serving: ready, terminating: variant % 5 === 4 },
    nodeName: `node-${(key + variant) % 7}`,
    zone: ZONES[(key + variant) % ZONES.length] as string,
    targetRef: { kind: "Pod", namespace: "shop", name: `web-${key}`, uid: `uid-${key}` },
  };
}

function ciliumEndpoint(key: number, variant: number): CoreCiliumEndpoint {
  return {
    name: `web-${key}`,
    id: 1000 + (variant % 4),
    networking: {
      addressing: [{ ipv4: `10.${variant % 3}.${key >> 8}.${key & 255}` }],
      node: `10.1.0.${variant % 7}`,
    },
    ...(variant % 3 === 0 ? { "named-ports": [{ name: "http", port: 8080, protocol: "TCP" as const }] } : {}),
  };
}

interface Shape {
  readonly items: readonly (readonly [key: number, variant: number])[];
  /** Changes outside the item list: labels, ports/addressType (EndpointSlice), namespace field (CES). */
  readonly meta: number;
}

function objectOf(kind: SliceKind, shape: Shape, resourceVersion: string): OutputObject {
  const labels = { "kubernetes.io/service-name": "web", ...(shape.meta % 2 === 1 ? { tier: "front" } : {}) };
  if (kind === "EndpointSlice") {
    const slice: EndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "web-abc", namespace: "shop", labels, resourceVersion },
      addressType: shape.meta % 4 === 3 ? "IPv6" : "IPv4",
      endpoints: shape.items.map(([key, variant]) => endpoint(key, variant)),
      ports: [{ name: "http", port: shape.meta % 3 === 2 ? 8443 : 8080, protocol: "TCP" }],
    };
    return slice;
  }
  const ces: CiliumEndpointSlice = {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: { name: "ces-xyz", labels, resourceVersion },
    namespace: shape.meta % 3 === 2 ? "other" : "shop",
    endpoints: shape.items.map(([key, variant]) => ciliumEndpoint(key, variant)),
  };
  return ces;
}

const itemsArb = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 149 }), fc.nat(20)), {
  maxLength: 100,
  selector: ([key]) => key,
  size: "max",
});

/** A next version: mostly edits of the last (drop, rewrite in place, append, sometimes reorder), sometimes anything. */
function nextShapeArb(previous: Shape): fc.Arbitrary<Shape> {
  const edited = fc
    .record({
      drop: fc.array(fc.boolean(), { minLength: previous.items.length, maxLength: previous.items.length }),
      bump: fc.array(fc.nat(3), { minLength: previous.items.length, maxLength: previous.items.length }),
      append: itemsArb,
      shuffle: fc.boolean(),
      metaChanges: fc.boolean(),
      meta: fc.nat(11),
    })
    .chain((edit) => {
      const kept = previous.items
        .filter((_, i) => edit.drop[i] !== true)
        .map(([key, variant], i): [number, number] => [key, variant + (edit.bump[i] ?? 0)]);
      const known = new Set(kept.map(([key]) => key));
      const items = [...kept, ...edit.append.filter(([key]) => !known.has(key))].slice(0, 100);
      const meta = edit.metaChanges ? edit.meta : previous.meta;
      return edit.shuffle
        ? fc.shuffledSubarray(items, { minLength: items.length }).map((s) => ({ items: s, meta }))
        : fc.constant({ items, meta });
    });
  // One item rewritten (what one pod change does), so most zones' parts stay as they were.
  const oneItem = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 3 })).map(([at, bump]) => ({
    items: previous.items.map(([key, variant], i): [number, number] =>
      i === at % previous.items.length ? [key, variant + bump] : [key, variant],
    ),
    meta: previous.meta,
  }));
  return fc.oneof(
    { weight: 4, arbitrary: edited },
    { weight: 2, arbitrary: oneItem },
    { weight: 1, arbitrary: fc.nat(11).map((meta) => ({ items: previous.items, meta })) },
    { weight: 1, arbitrary: fc.record({ items: itemsArb, meta: fc.nat(11) }) },
  );
}

const shapeArb = fc.record({ items: itemsArb, meta: fc.nat(11) });
const kindArb = fc.constantFrom<SliceKind>("EndpointSlice", "CiliumEndpointSlice");

/** Versions v0..vn of one object, as the store would write them. */
function historyArb(
  maxLength: number,
  kinds: fc.Arbitrary<SliceKind> = kindArb,
): fc.Arbitrary<{ kind: SliceKind; versions: OutputObject[] }> {
  return fc.tuple(kinds, shapeArb, fc.integer({ min: 1, max: maxLength })).chain(([kind, first, length]) => {
    let arb: fc.Arbitrary<Shape[]> = fc.constant([first]);
    for (let i = 1; i < length; i++) {
      arb = arb.chain((shapes) =>
        nextShapeArb(shapes[shapes.length - 1] as Shape).map((next) => [...shapes, next]),
      );
    }
    return arb.map((shapes) => ({
      kind,
      versions: shapes.map((shape, i) => objectOf(kind, shape, String(1000 + i * 7))),
    }));
  });
}

/** The full-object scope's bundled change (EndpointSlice or Cilium). */
function fullScopeChange(change: ObjectChange): BundledChange {
  const scoped = bundledChangesOf(change, ZONES).find((s) => !s.scope.includes("@"));
  assert.ok(scoped !== undefined);
  return scoped.change;
}

function modified(before: OutputObject, after: OutputObject): ObjectChange {
  return { kind: after.kind, before, after, sourceTimeMs: 1 };
}

function applied(current: OutputObject | undefined, change: BundledChange): OutputObject | undefined {
  const result = applyBundledChange(current, change);
  assert.equal(result.outcome, "applied", JSON.stringify(result));
  return result.outcome === "applied" ? result.object : undefined;
}

function sameMeta(a: OutputObject, b: OutputObject): boolean {
  const strip = (o: OutputObject) =>
    JSON.stringify({ ...o, endpoints: [], metadata: { ...o.metadata, resourceVersion: "" } });
  return strip(a) === strip(b);
}

describe("slice deltas", () => {
  it("apply(before, delta(before -> after)) equals after; a patch exactly when only items changed", () => {
    fc.assert(
      fc.property(historyArb(2), ({ versions }) => {
        const [before, after] = versions as [OutputObject, OutputObject | undefined];
        if (after === undefined) return;
        const change = fullScopeChange(modified(before, after));
        assert.deepEqual(applied(before, change), after);
        assert.equal(change.patch !== undefined, sameMeta(before, after));
        assert.equal(change.object !== undefined, !sameMeta(before, after));
      }),
      { numRuns: 300 },
    );
  });

  it("applying a change twice is a duplicate (ADDED, MODIFIED, DELETED)", () => {
    fc.assert(
      fc.property(historyArb(2), ({ kind, versions }) => {
        const [before, after] = versions as [OutputObject, OutputObject | undefined];
        const added = fullScopeChange({ kind, before: undefined, after: before, sourceTimeMs: 1 });
        const held = applied(undefined, added);
        assert.deepEqual(applyBundledChange(held, added), { outcome: "duplicate" });
        if (after !== undefined) {
          const change = fullScopeChange(modified(before, after));
          assert.deepEqual(applyBundledChange(applied(before, change), change), { outcome: "duplicate" });
        }
        const deleted = fullScopeChange({ kind, before, after: undefined, sourceTimeMs: 1 });
        assert.equal(deleted.object, undefined);
        assert.equal(applied(before, deleted), undefined);
        const deletedAt = deleted.resourceVersion;
        assert.deepEqual(applyBundledChange(undefined, deleted, { deletedAt }), { outcome: "duplicate" });
        assert.deepEqual(applyBundledChange(undefined, added, { deletedAt }), { outcome: "duplicate" });
      }),
      { numRuns: 200 },
    );
  });

  it("a patch on an older base (or on nothing) is a gap, never a wrong object", () => {
    fc.assert(
      fc.property(historyArb(3), ({ versions }) => {
        const [v0, v1, v2] = versions as [OutputObject, OutputObject?, OutputObject?];
        if (v1 === undefined || v2 === undefined) return;
        const change = fullScopeChange(modified(v1, v2));
        if (change.patch === undefined) return;
        assert.deepEqual(applyBundledChange(v0, change), { outcome: "gap", reason: "missing base" });
        assert.deepEqual(applyBundledChange(undefined, change), { outcome: "gap", reason: "missing base" });
      }),
      { numRuns: 300 },
    );
  });

  it("duplicated, reordered delivery ends at the last version when gaps re-read the latest", () => {
    fc.assert(
      fc.property(
        historyArb(8),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        ({ kind, versions }, endsDeleted, duplicates, order) => {
          const changes: BundledChange[] = [
            fullScopeChange({ kind, before: undefined, after: versions[0], sourceTimeMs: 1 }),
          ];
          for (let i = 1; i < versions.length; i++) {
            changes.push(
              fullScopeChange(modified(versions[i - 1] as OutputObject, versions[i] as OutputObject)),
            );
          }
          const last = versions[versions.length - 1] as OutputObject;
          if (endsDeleted)
            changes.push(fullScopeChange({ kind, before: last, after: undefined, sourceTimeMs: 1 }));
          const latest = endsDeleted ? undefined : last;

          // In order, once each: every change applies, no re-read.
          let current: OutputObject | undefined;
          for (const change of changes) current = applied(current, change);
          assert.deepEqual(current, latest);

          // Every change at least once, some twice, in a random order.
          const deliveries = [...changes.keys(), ...duplicates.map((d) => d % changes.length)];
          for (let i = deliveries.length - 1; i > 0; i--) {
            const j = (order[i % Math.max(1, order.length)] ?? 0) % (i + 1);
            [deliveries[i], deliveries[j]] = [deliveries[j] as number, deliveries[i] as number];
          }
          current = undefined;
          let deletedAt: string | undefined;
          for (const index of deliveries) {
            const change = changes[index] as BundledChange;
            const result = applyBundledChange(current, change, deletedAt === undefined ? {} : { deletedAt });
            if (result.outcome === "applied") {
              if (result.object === undefined) deletedAt = change.resourceVersion;
              current = result.object;
            } else if (result.outcome === "gap") {
              // A re-read returns what is stored now: the latest version, or nothing and its tombstone.
              current = latest;
              if (latest === undefined) deletedAt = last.metadata.resourceVersion;
            }
          }
          assert.deepEqual(current, latest);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("zone views patch on their base's digest; identities travel whole", () => {
    const shape: Shape = {
      items: [
        [1, 0],
        [2, 0],
        [3, 0],
      ],
      meta: 0,
    };
    const before = objectOf("EndpointSlice", shape, "10");
    const after = objectOf(
      "EndpointSlice",
      {
        ...shape,
        items: [
          [1, 1],
          [2, 0],
          [3, 0],
        ],
      },
      "11",
    );
    const scoped = bundledChangesOf(modified(before, after), ZONES);
    const zoneChanges = scoped.filter((s) => s.scope.startsWith("EndpointSlice@"));
    assert.ok(zoneChanges.length > 0);
    // Item 1 moves from zone b (its only item) to zone c, ahead of c's item 2 in the slice's order:
    // b's view is deleted; c's is patched (2 moved behind 1, as the replay rule appends).
    assert.deepEqual(
      zoneChanges.map(({ scope, change }) => [scope, change.type, change.object !== undefined, change.patch]),
      [
        ["EndpointSlice@b", "DELETED", false, undefined],
        [
          "EndpointSlice@c",
          "MODIFIED",
          false,
          { upsert: [endpoint(1, 1), endpoint(2, 0)], remove: ["uid-2"] },
        ],
      ],
    );
    const zoneC = zoneChanges[1]?.change;
    assert.equal(zoneC?.baseDigest, zoneViewDigest(zoneCutOf(before, "c") as EndpointSlice));
    assert.equal(zoneC?.previousResourceVersion, "10");
    assert.ok(scoped.find((s) => s.scope === "EndpointSlice")?.change.patch !== undefined);
    const identity = (labels: Record<string, string>, rv: string): OutputObject => ({
      apiVersion: "cilium.io/v2",
      kind: "CiliumIdentity",
      metadata: { name: "256", labels, resourceVersion: rv },
      "security-labels": labels,
    });
    const idChange = fullScopeChange(modified(identity({ a: "1" }, "1"), identity({ a: "2" }, "2")));
    assert.deepEqual(idChange.object, identity({ a: "2" }, "2"));
    assert.equal(idChange.previousResourceVersion, "1");
  });

  it("round-trips every update the real EndpointSlice core writes through rolling updates", (t) => {
    for (const placement of ["kubernetes", "sliceline"] as const) {
      const trace = rollingUpdateTrace({
        namespace: "default",
        appLabel: "web",
        replicas: 400,
        rounds: 2,
        maxSurge: 100,
        maxUnavailable: 100,
        batchSize: 100,
        nodes: 30,
        seed: 7,
      });
      const service = serviceRecord({
        ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP", appProtocol: undefined }],
      });
      const slices = new ServiceSlices("default", "web", { maxEndpointsPerSlice: 100, placement });
      const held = new Map<string, OutputObject>();
      let version = 1;
      let patches = 0;
      let patchBytes = 0;
      let wholeBytes = 0;
      for (const batch of [...trace.initial, ...trace.rounds.flat()]) {
        const changes = slices.reconcile(service, batch, trace.zoneOf);
        for (const written of [...changes.creates, ...changes.updates]) {
          const resourceVersion = String(++version);
          slices.setResourceVersion(written.metadata.name, resourceVersion);
          const after: EndpointSlice = { ...written, metadata: { ...written.metadata, resourceVersion } };
          const before = held.get(after.metadata.name);
          const change = fullScopeChange({ kind: "EndpointSlice", before, after, sourceTimeMs: 1 });
          assert.deepEqual(applied(before, change), after);
          if (change.patch !== undefined) {
            patches++;
            patchBytes += Buffer.byteLength(JSON.stringify(change));
            wholeBytes += Buffer.byteLength(JSON.stringify(after));
          }
          held.set(after.metadata.name, after);
        }
        for (const gone of changes.deletes) held.delete(gone.metadata.name);
      }
      assert.ok(patches > 0);
      t.diagnostic(`${placement}: ${patches} patches, ${patchBytes} bytes vs ${wholeBytes} bytes whole`);
    }
  });
});

/** What a zone watcher holds of a slice version: its zone's endpoints, or nothing when there are none. */
function zoneCutOf(object: OutputObject | undefined, zone: string): EndpointSlice | undefined {
  if (object === undefined) return undefined;
  const slice = object as EndpointSlice;
  const endpoints = slice.endpoints.filter((e) => e.zone === zone);
  return endpoints.length === 0 ? undefined : { ...slice, endpoints };
}

/** A zone view up to its version and item order (a patch keys its items; versions differ by design). */
function content(view: OutputObject | undefined): unknown {
  if (view === undefined) return undefined;
  const slice = view as EndpointSlice;
  const endpoints = [...slice.endpoints].sort((a, b) => a.targetRef.uid.localeCompare(b.targetRef.uid));
  return { ...slice, metadata: { ...slice.metadata, resourceVersion: "" }, endpoints };
}

const sliceKindArb = fc.constant<SliceKind>("EndpointSlice");

describe("zone-view deltas", () => {
  it("for every zone, the zone change turns the zone cut of before into the zone cut of after", () => {
    fc.assert(
      fc.property(historyArb(2, sliceKindArb), ({ versions }) => {
        const [before, after] = versions as [OutputObject, OutputObject | undefined];
        if (after === undefined) return;
        const scoped = bundledChangesOf(modified(before, after), ZONES);
        for (const zone of ZONES) {
          const cutBefore = zoneCutOf(before, zone);
          const cutAfter = zoneCutOf(after, zone);
          const changes = scoped.filter((s) => s.scope === zoneScope(zone)).map((s) => s.change);
          if (changes.length === 0) {
            // Not sent: the watcher's copy is still right, up to its version.
            assert.deepEqual(content(cutBefore), content(cutAfter));
            continue;
          }
          assert.equal(changes.length, 1);
          const change = changes[0] as BundledChange;
          const result = applyBundledChange(cutBefore, change);
          assert.equal(result.outcome, "applied", JSON.stringify(result));
          if (result.outcome === "applied") assert.deepEqual(result.object, cutAfter);
          const itemsOnly: boolean =
            cutBefore !== undefined && cutAfter !== undefined && sameMeta(before, after);
          assert.equal(change.patch !== undefined, itemsOnly);
          assert.equal(change.baseDigest !== undefined, itemsOnly);
          if (change.baseDigest !== undefined)
            assert.equal(change.baseDigest, zoneViewDigest(cutBefore as EndpointSlice));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a zone watcher fed only its zone's changes (batched, duplicated, reordered) ends at the latest zone cut", () => {
    fc.assert(
      fc.property(
        historyArb(10, sliceKindArb),
        fc.constantFrom(...ZONES),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        ({ kind, versions }, zone, endsDeleted, batchSizes, duplicates, order) => {
          const writes: ObjectChange[] = [{ kind, before: undefined, after: versions[0], sourceTimeMs: 1 }];
          for (let i = 1; i < versions.length; i++)
            writes.push(modified(versions[i - 1] as OutputObject, versions[i] as OutputObject));
          const last = versions[versions.length - 1] as OutputObject;
          if (endsDeleted) writes.push({ kind, before: last, after: undefined, sourceTimeMs: 1 });
          const latest = endsDeleted ? undefined : zoneCutOf(last, zone);

          // The real fan-out path: stream batches coalesced, routed, bundled for the zone's scope.
          const changes: BundledChange[] = [];
          const scopes = new Set([zoneScope(zone)]);
          for (let at = 0, b = 0; at < writes.length; b++) {
            const size = batchSizes[b % batchSizes.length] as number;
            const batch = writes.slice(at, at + size).map((change, i) => ({ change, record: at + i }));
            at += size;
            for (const message of bundleMessages(coalesceChanges(batch), ZONES, scopes))
              changes.push(...(parseBundle(message.body)?.changes ?? []));
          }

          // In order, once each: every change applies on what the watcher holds, no re-read.
          let current: OutputObject | undefined;
          let deletedAt: string | undefined;
          for (const change of changes) {
            const result = applyBundledChange(current, change, deletedAt === undefined ? {} : { deletedAt });
            assert.equal(result.outcome, "applied", JSON.stringify(result));
            if (result.outcome !== "applied") continue;
            if (result.object === undefined) deletedAt = change.resourceVersion;
            current = result.object;
          }
          assert.deepEqual(content(current), content(latest));

          // Every change at least once, some twice, in a random order; a gap re-reads the latest
          // version and cuts it to the zone, as the agent does (nothing in the zone: a tombstone).
          const deliveries = [...changes.keys(), ...duplicates.map((d) => d % Math.max(1, changes.length))];
          if (changes.length === 0) deliveries.length = 0;
          for (let i = deliveries.length - 1; i > 0; i--) {
            const j = (order[i % Math.max(1, order.length)] ?? 0) % (i + 1);
            [deliveries[i], deliveries[j]] = [deliveries[j] as number, deliveries[i] as number];
          }
          current = undefined;
          deletedAt = undefined;
          for (const index of deliveries) {
            const change = changes[index] as BundledChange;
            const result = applyBundledChange(current, change, deletedAt === undefined ? {} : { deletedAt });
            if (result.outcome === "applied") {
              if (result.object === undefined) deletedAt = change.resourceVersion;
              current = result.object;
            } else if (result.outcome === "gap") {
              current = latest;
              if (latest === undefined) deletedAt = last.metadata.resourceVersion;
            }
          }
          assert.deepEqual(content(current), content(latest));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a zone patch on a copy with other content is a gap, never a wrong zone view", () => {
    fc.assert(
      fc.property(
        historyArb(3, sliceKindArb),
        fc.constantFrom(...ZONES),
        fc.nat(),
        ({ versions }, zone, pick) => {
          const [v0, v1, v2] = versions as [OutputObject, OutputObject?, OutputObject?];
          if (v1 === undefined || v2 === undefined) return;
          const change = bundledChangesOf(modified(v1, v2), ZONES).find(
            (s) => s.scope === zoneScope(zone),
          )?.change;
          if (change?.patch === undefined) return;
          const base = zoneCutOf(v1, zone) as EndpointSlice;
          const older = { ...base, metadata: { ...base.metadata, resourceVersion: "1" } };
          const flipped = base.endpoints.map((e, i) =>
            i === pick % base.endpoints.length
              ? { ...e, conditions: { ...e.conditions, ready: !e.conditions.ready } }
              : e,
          );
          const candidates: (OutputObject | undefined)[] = [
            undefined,
            zoneCutOf(v0, zone),
            { ...older, endpoints: flipped },
            { ...older, endpoints: base.endpoints.slice(1) },
            { ...older, metadata: { ...older.metadata, labels: { ...older.metadata.labels, extra: "x" } } },
            { ...older, ports: [{ name: "http", port: 9999, protocol: "TCP" }] },
          ];
          for (const held of candidates) {
            const result = applyBundledChange(held, change);
            const sameContent =
              held !== undefined && zoneViewDigest(held as EndpointSlice) === change.baseDigest;
            if (sameContent) {
              assert.equal(result.outcome, "applied");
              if (result.outcome === "applied")
                assert.deepEqual(content(result.object), content(zoneCutOf(v2, zone)));
            } else assert.deepEqual(result, { outcome: "gap", reason: "missing base" });
          }
          // The exact base applies; a copy already at the change's version is a duplicate.
          assert.equal(applyBundledChange(older, change).outcome, "applied");
          assert.deepEqual(applyBundledChange(zoneCutOf(v2, zone), change), { outcome: "duplicate" });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the digest ignores item order and key order, and sees every field", () => {
    const slice = objectOf(
      "EndpointSlice",
      {
        items: [
          [1, 0],
          [2, 1],
          [3, 2],
        ],
        meta: 0,
      },
      "5",
    ) as EndpointSlice;
    const digest = zoneViewDigest(slice);
    const rebuilt: EndpointSlice = {
      ...slice,
      endpoints: [...slice.endpoints].reverse().map((e) => ({
        zone: e.zone,
        targetRef: {
          uid: e.targetRef.uid,
          name: e.targetRef.name,
          namespace: e.targetRef.namespace,
          kind: "Pod",
        },
        nodeName: e.nodeName,
        conditions: {
          terminating: e.conditions.terminating,
          serving: e.conditions.serving,
          ready: e.conditions.ready,
        },
        addresses: e.addresses,
      })) as Endpoint[],
    };
    assert.equal(zoneViewDigest(rebuilt), digest);
    assert.match(digest, /^[0-9a-f]{16}$/);
    const first = slice.endpoints[0] as Endpoint;
    const variants: Endpoint[] = [
      { ...first, addresses: ["10.9.9.9"] },
      { ...first, conditions: { ...first.conditions, ready: !first.conditions.ready } },
      { ...first, conditions: { ...first.conditions, serving: !first.conditions.serving } },
      { ...first, conditions: { ...first.conditions, terminating: !first.conditions.terminating } },
      { ...first, nodeName: "elsewhere" },
      { ...first, zone: "z" },
      { ...first, targetRef: { ...first.targetRef, name: "other" } },
      { ...first, targetRef: { ...first.targetRef, namespace: "other" } },
      { ...first, targetRef: { ...first.targetRef, uid: "other" } },
    ];
    for (const variant of variants)
      assert.notEqual(
        zoneViewDigest({ ...slice, endpoints: [variant, ...slice.endpoints.slice(1)] }),
        digest,
      );
    assert.notEqual(zoneViewDigest({ ...slice, addressType: "IPv6" }), digest);
    assert.notEqual(zoneViewDigest({ ...slice, ports: [] }), digest);
    assert.notEqual(zoneViewDigest({ ...slice, metadata: { ...slice.metadata, labels: {} } }), digest);
  });
});

describe("slice deltas over the real CiliumEndpointSlice core", () => {
  it("round-trips every CES update of random pod churn (fcfs and identity batching)", () => {
    const change = fc.tuple(
      fc.nat(119),
      fc.option(fc.tuple(fc.nat(5), fc.nat(3), fc.nat(2), fc.boolean()), { freq: 4, nil: null }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom("fcfs" as const, "identity" as const),
        fc.array(fc.array(change, { minLength: 1, maxLength: 60, size: "max" }), {
          maxLength: 15,
          size: "max",
        }),
        (batchingMode, batches) => {
          const core = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 50, batchingMode });
          const held = new Map<string, OutputObject>();
          let version = 1;
          for (const batch of batches) {
            const writes = core.reconcile(
              batch.map(([pod, shape]): readonly [string, CoreCiliumEndpoint | undefined] => {
                if (shape === null) return [`web-${pod}`, undefined];
                const [identity, ip, node, ports] = shape;
                return [
                  `web-${pod}`,
                  {
                    name: `web-${pod}`,
                    id: 300 + identity,
                    networking: { addressing: [{ ipv4: `10.${ip}.0.${pod}` }], node: `192.168.0.${node}` },
                    ...(ports
                      ? { "named-ports": [{ name: "http", port: 8080, protocol: "TCP" as const }] }
                      : {}),
                  },
                ];
              }),
            );
            for (const written of [...writes.creates, ...writes.updates]) {
              const resourceVersion = String(++version);
              core.setResourceVersion(written.metadata.name, resourceVersion);
              const after: CiliumEndpointSlice = {
                ...written,
                metadata: { ...written.metadata, resourceVersion },
              };
              const before = held.get(after.metadata.name);
              const bundled = fullScopeChange({
                kind: "CiliumEndpointSlice",
                before,
                after,
                sourceTimeMs: 1,
              });
              if (before !== undefined)
                assert.ok(bundled.patch !== undefined, "a CES update changes only entries");
              assert.deepEqual(applied(before, bundled), after);
              held.set(after.metadata.name, after);
            }
            for (const gone of writes.deletes) held.delete(gone.metadata.name);
          }
          assert.deepEqual(
            [...held.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)),
            core.slices().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("patch size", () => {
  for (const [kind, count] of [
    ["EndpointSlice", 100],
    ["CiliumEndpointSlice", 50],
  ] as const) {
    it(`one changed item of a ${count}-item ${kind} is a patch at least 20x smaller than the object`, (t) => {
      const items = Array.from({ length: count }, (_, key): [number, number] => [key, 0]);
      const before = objectOf(kind, { items, meta: 0 }, "1763000000000001");
      const changedItems = items.map(([key, variant]): [number, number] => [
        key,
        key === 42 ? variant + 1 : variant,
      ]);
      const after = objectOf(kind, { items: changedItems, meta: 0 }, "1763000000000002");
      const change = fullScopeChange(modified(before, after));
      assert.equal(change.patch?.upsert.length, 1);
      const patchBytes = Buffer.byteLength(JSON.stringify(change));
      const wholeBytes = Buffer.byteLength(JSON.stringify(after));
      t.diagnostic(
        `${kind} ${count} items: patch change ${patchBytes} B, whole object ${wholeBytes} B (${(wholeBytes / patchBytes).toFixed(1)}x)`,
      );
      assert.ok(patchBytes * 20 <= wholeBytes, `${patchBytes} B vs ${wholeBytes} B`);
    });
  }
});
