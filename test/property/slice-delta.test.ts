/**
 * The delta format's round trip: a watcher holding `before` that applies the bundled change of
 * before -> after holds exactly `after` (order included), whatever changed; and at-least-once,
 * unordered delivery never leaves it anywhere but the latest version once it re-reads on gaps.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NamespaceCiliumEndpointSlices } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { rollingUpdateTrace } from "#shared/core/endpointslice/rolling-update-trace.ts";
import { ServiceSlices } from "#shared/core/endpointslice/service-slices.ts";
import { serviceRecord } from "#shared/core/endpointslice/testing.ts";
import type { CiliumEndpointSlice, CoreCiliumEndpoint, Endpoint, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import type { ObjectChange } from "#shared/fanout/change-routing.ts";
import { applyBundledChange, bundledChangesOf } from "#shared/fanout/slice-delta.ts";

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
  return fc.oneof(
    { weight: 4, arbitrary: edited },
    { weight: 1, arbitrary: fc.record({ items: itemsArb, meta: fc.nat(11) }) },
  );
}

const shapeArb = fc.record({ items: itemsArb, meta: fc.nat(11) });
const kindArb = fc.constantFrom<SliceKind>("EndpointSlice", "CiliumEndpointSlice");

/** Versions v0..vn of one object, as the store would write them. */
function historyArb(maxLength: number): fc.Arbitrary<{ kind: SliceKind; versions: OutputObject[] }> {
  return fc
    .tuple(kindArb, shapeArb, fc.integer({ min: 1, max: maxLength }))
    .chain(([kind, first, length]) => {
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

  it("zone views travel whole; identities travel whole", () => {
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
    const zoneChanges = scoped.filter((s) => s.scope.includes("@"));
    assert.ok(zoneChanges.length > 0);
    assert.deepEqual(
      zoneChanges.map(({ scope, change }) => [scope, change.type, change.object !== undefined, change.patch]),
      [
        ["EndpointSlice@b", "DELETED", false, undefined],
        ["EndpointSlice@c", "MODIFIED", true, undefined],
      ],
    );
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
