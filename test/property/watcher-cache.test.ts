/**
 * A watcher cache fed a random history of several EndpointSlices, CiliumEndpointSlices and
 * identities, delivered as SQS standard would (duplicates, reordering), half as bundled patches
 * (slice-delta.ts) and half as whole change messages; gaps are resolved by a model GET that returns
 * the latest version (or 404), either at once or at the end. Afterwards the cache holds exactly the
 * final objects, and its incrementally kept IPCache and backends equal those recomputed from them.
 * A zone-only cache, fed its zone's scope (whole views and patches on content digests), ends with
 * the zone cuts of the final slices.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import { type ObjectChange, routeChange, zoneScope } from "#shared/fanout/change-routing.ts";
import { bundledChangesOf } from "#shared/fanout/slice-delta.ts";
import {
  bundledFromMessage,
  cacheKey,
  refOf,
  refOfObject,
  WatcherCache,
} from "#shared/watcher/watcher-cache.ts";
import { snapshotFromObjects } from "#shared/watcher/watcher-snapshot.ts";
import {
  ciliumEndpoint,
  ciliumSlice,
  endpoint,
  endpointSlice,
  identity,
} from "#test/support/watcher-objects.ts";

const KINDS: readonly OutputKind[] = ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"];
const NODES = ["n0", "n1", "n2"];
const ZONES = ["a", "b"];

interface Step {
  readonly kind: number;
  readonly slot: number;
  readonly op: number;
  readonly pod: number;
  readonly value: number;
}

const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  kind: fc.nat({ max: 2 }),
  slot: fc.nat({ max: 2 }),
  op: fc.nat({ max: 9 }),
  pod: fc.nat({ max: 11 }),
  value: fc.nat({ max: 3 }),
});

interface Delivery {
  readonly delay: number;
  readonly duplicateDelay: number | undefined;
  readonly whole: boolean;
  readonly refetchAtOnce: boolean;
}

const deliveryArbitrary: fc.Arbitrary<Delivery> = fc.record({
  delay: fc.nat({ max: 12 }),
  duplicateDelay: fc.option(fc.nat({ max: 30 }), { freq: 4 }),
  whole: fc.boolean(),
  refetchAtOnce: fc.boolean(),
});

/** The objects' histories: one ObjectChange per step that changed something. */
function historyOf(steps: readonly Step[]): { changes: ObjectChange[]; final: Map<string, OutputObject> } {
  const current = new Map<string, OutputObject>();
  const changes: ObjectChange[] = [];
  let revision = 100;
  steps.forEach((step, index) => {
    const kind = KINDS[step.kind] as OutputKind;
    const namespace = step.slot === 2 ? "beta" : "alpha";
    const before = current.get(`${kind}/${step.slot}`);
    const rv = ++revision;
    const after = nextVersion(kind, step, namespace, before, rv);
    if (after === before) return;
    if (after === undefined) current.delete(`${kind}/${step.slot}`);
    else current.set(`${kind}/${step.slot}`, after);
    changes.push({ kind, before, after, sourceTimeMs: index });
  });
  const final = new Map<string, OutputObject>();
  for (const object of current.values()) final.set(cacheKey(refOfObject(object)), object);
  return { changes, final };
}

function nextVersion(
  kind: OutputKind,
  step: Step,
  namespace: string,
  before: OutputObject | undefined,
  rv: number,
): OutputObject | undefined {
  const pod = `pod-${step.pod}`;
  const ip = `10.0.${namespace === "beta" ? 1 : 0}.${step.pod}`;
  if (step.op === 9) return undefined;
  if (kind === "EndpointSlice") {
    const previous = before as EndpointSlice | undefined;
    const endpoints = previous === undefined ? [] : structuredClone(previous.endpoints);
    const at = endpoints.findIndex((e) => e.targetRef.name === pod);
    const made = endpoint(namespace, {
      pod,
      ip,
      ready: step.value !== 0,
      node: NODES[step.value % 3] as string,
      zone: ZONES[step.value % 2] as string,
    });
    if (step.op <= 4) {
      if (at === -1) endpoints.push(made);
      else endpoints[at] = made;
    } else if (step.op <= 6 && at !== -1) endpoints.splice(at, 1);
    const port = step.op === 7 ? 8080 + step.value : (previous?.ports[0]?.port ?? 8080);
    return endpointSlice(
      namespace,
      `svc-${step.slot % 2}-${step.slot}`,
      `svc-${step.slot % 2}`,
      rv,
      endpoints,
      port,
    );
  }
  if (kind === "CiliumEndpointSlice") {
    const previous = before as CiliumEndpointSlice | undefined;
    const entries = previous === undefined ? [] : structuredClone(previous.endpoints);
    const at = entries.findIndex((e) => e.name === pod);
    const made = ciliumEndpoint(pod, 256 + step.value, ip, `192.168.0.${step.value}`);
    if (step.op <= 5) {
      if (at === -1) entries.push(made);
      else entries[at] = made;
    } else if (at !== -1) entries.splice(at, 1);
    // Slots 0 and 1 both cover "alpha": a pod in both claims its IP twice (a handover).
    return ciliumSlice(`ces-${step.slot}`, namespace, rv, entries);
  }
  const previous = before as CiliumIdentity | undefined;
  const labels = { app: `app-${step.value}`, tier: step.op % 2 === 0 ? "fe" : "be" };
  if (previous !== undefined && JSON.stringify(previous.metadata.labels) === JSON.stringify(labels))
    return before;
  return identity(256 + step.slot, rv, labels);
}

/**
 * What the watcher's queue receives for each change, one delivery each, in production order: the
 * full scope's, or with `zone` the zone scope's (only the changes that touched that zone's part).
 */
function deliveriesOf(
  changes: readonly ObjectChange[],
  deliveries: readonly Delivery[],
  zone?: string,
): BundledChange[] {
  const timed: Array<{ at: number; change: BundledChange; refetch: boolean }> = [];
  changes.forEach((change, index) => {
    const delivery = deliveries[index % deliveries.length] as Delivery;
    if (zone !== undefined) {
      const scoped = zoneChangeOf(change, zone);
      const routed = routeChange(change, [zone]).find((r) => r.scope === zoneScope(zone));
      if (scoped === undefined || routed === undefined) return;
      const bundled = delivery.whole ? bundledFromMessage(routed.message) : scoped;
      timed.push({ at: index + delivery.delay, change: bundled, refetch: delivery.refetchAtOnce });
      if (delivery.duplicateDelay !== undefined)
        timed.push({ at: index + delivery.duplicateDelay, change: bundled, refetch: delivery.refetchAtOnce });
      return;
    }
    const [scoped] = bundledChangesOf(change, []);
    const [routed] = routeChange(change, []);
    if (scoped === undefined || routed === undefined) throw new Error("a change with no full scope");
    const bundled = delivery.whole ? bundledFromMessage(routed.message) : scoped.change;
    timed.push({ at: index + delivery.delay, change: bundled, refetch: delivery.refetchAtOnce });
    if (delivery.duplicateDelay !== undefined)
      timed.push({ at: index + delivery.duplicateDelay, change: bundled, refetch: delivery.refetchAtOnce });
  });
  timed.sort((a, b) => a.at - b.at);
  return timed.map((entry) => (entry.refetch ? { ...entry.change, zone: "refetch-at-once" } : entry.change));
}

/** A minimal agent: holds gaps, retries them after each applied change, re-reads the latest on demand. */
function feed(
  cache: WatcherCache,
  delivered: readonly BundledChange[],
  final: ReadonlyMap<string, OutputObject>,
) {
  const held = new Map<string, BundledChange[]>();
  const getLatest = (key: string, change: BundledChange) => {
    const latest = final.get(key);
    if (latest === undefined) cache.removeObject(refOf(change.kind, change.namespace, change.name), "999999");
    else
      cache.apply({
        type: "MODIFIED",
        kind: latest.kind,
        name: latest.metadata.name,
        ...(latest.metadata.namespace === undefined ? {} : { namespace: latest.metadata.namespace }),
        resourceVersion: latest.metadata.resourceVersion as string,
        sourceTimeMs: 0,
        object: latest,
      });
  };
  const retry = (key: string) => {
    for (let progressed = true; progressed; ) {
      progressed = false;
      const waiting = held.get(key) ?? [];
      held.delete(key);
      const still = waiting.filter((change) => {
        const result = cache.apply(change);
        if (result.outcome === "applied") progressed = true;
        return result.outcome === "gap";
      });
      if (still.length > 0) held.set(key, still);
    }
  };
  for (const change of delivered) {
    const result = cache.apply(change);
    if (result.outcome === "applied") retry(result.key);
    else if (result.outcome === "gap") {
      if (change.zone === "refetch-at-once") {
        getLatest(result.key, change);
        retry(result.key);
      } else held.set(result.key, [...(held.get(result.key) ?? []), change]);
    }
  }
  for (const [key, changes] of [...held]) {
    getLatest(key, changes[0] as BundledChange);
    held.delete(key);
  }
}

function zoneChangeOf(change: ObjectChange, zone: string): BundledChange | undefined {
  return bundledChangesOf(change, [zone]).find((s) => s.scope === zoneScope(zone))?.change;
}

/** The zone cuts of the final EndpointSlices: what a zone-only watcher must end with. */
function zoneCuts(final: ReadonlyMap<string, OutputObject>, zone: string): Map<string, OutputObject> {
  const cuts = new Map<string, OutputObject>();
  for (const [key, object] of final) {
    if (object.kind !== "EndpointSlice") continue;
    const endpoints = object.endpoints.filter((e) => e.zone === zone);
    if (endpoints.length > 0) cuts.set(key, { ...object, endpoints });
  }
  return cuts;
}

/**
 * A slice up to its version and item order: a zone watcher's copy carries the version of the last
 * change to its zone, and a zone-view patch applies on content, whatever order the copy has.
 */
function sliceContent(object: OutputObject): unknown {
  const slice = object as EndpointSlice;
  const endpoints = [...slice.endpoints].sort((a, b) => a.targetRef.uid.localeCompare(b.targetRef.uid));
  return { ...slice, metadata: { ...slice.metadata, resourceVersion: "" }, endpoints };
}

function byKind(final: ReadonlyMap<string, OutputObject>, kind: OutputKind): OutputObject[] {
  return [...final.values()].filter((object) => object.kind === kind);
}

function sortByName(objects: readonly OutputObject[]): OutputObject[] {
  return [...objects].sort((a, b) => cacheKey(refOfObject(a)).localeCompare(cacheKey(refOfObject(b))));
}

describe("WatcherCache under SQS delivery (property)", () => {
  it("ends equal to the truth: objects, IPCache and backends", () => {
    fc.assert(
      fc.property(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 200, size: "max" }),
        fc.array(deliveryArbitrary, { minLength: 1, maxLength: 64, size: "max" }),
        (steps, deliveries) => {
          const { changes, final } = historyOf(steps);
          const cache = new WatcherCache();
          feed(cache, deliveriesOf(changes, deliveries), final);
          for (const kind of KINDS)
            assert.deepEqual(sortByName(cache.objects(kind)), sortByName(byKind(final, kind)), kind);
          const truth = snapshotFromObjects({
            endpointSlices: byKind(final, "EndpointSlice") as EndpointSlice[],
            ciliumEndpointSlices: byKind(final, "CiliumEndpointSlice") as CiliumEndpointSlice[],
            identities: byKind(final, "CiliumIdentity") as CiliumIdentity[],
          });
          assert.deepEqual(cache.snapshot(), truth);
          const counts = cache.counts();
          assert.equal(
            counts.endpoints,
            byKind(final, "EndpointSlice").reduce((n, s) => n + (s as EndpointSlice).endpoints.length, 0),
          );
          assert.equal(counts.ipcacheEntries, truth.ipcache.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a zone-only cache ends equal to the zone cuts of the truth (zone views patched on content digests)", () => {
    let zonePatches = 0;
    fc.assert(
      fc.property(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 200, size: "max" }),
        fc.array(deliveryArbitrary, { minLength: 1, maxLength: 64, size: "max" }),
        fc.constantFrom(...ZONES),
        (steps, deliveries, zone) => {
          const { changes, final } = historyOf(steps.map((step) => ({ ...step, kind: 0 })));
          const cuts = zoneCuts(final, zone);
          const expected = sortByName([...cuts.values()]).map(sliceContent);
          const truth = snapshotFromObjects({
            endpointSlices: [...cuts.values()] as EndpointSlice[],
            ciliumEndpointSlices: [],
            identities: [],
          });

          // In order, once each: the cache holds every zone-view patch's base, nothing is a gap.
          const inOrder = new WatcherCache();
          for (const change of changes) {
            const bundled = zoneChangeOf(change, zone);
            if (bundled === undefined) continue;
            if (bundled.baseDigest !== undefined) zonePatches++;
            assert.equal(inOrder.apply(bundled).outcome, "applied");
          }
          assert.deepEqual(sortByName(inOrder.objects("EndpointSlice")).map(sliceContent), expected);

          const cache = new WatcherCache();
          feed(cache, deliveriesOf(changes, deliveries, zone), cuts);
          assert.deepEqual(sortByName(cache.objects("EndpointSlice")).map(sliceContent), expected);
          assert.deepEqual(cache.snapshot(), truth);
        },
      ),
      { numRuns: 200 },
    );
    assert.ok(zonePatches > 100, `${zonePatches} zone-view patches`);
  });

  it("removes an object on a DELETED at its held version, whatever came before", () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 60, size: "max" }), (steps) => {
        const { changes, final } = historyOf(steps);
        const cache = new WatcherCache();
        for (const change of changes)
          cache.apply(bundledFromMessage(routeChange(change, [])[0]?.message as never));
        for (const object of final.values()) {
          const ref = refOfObject(object);
          const version = object.metadata.resourceVersion as string;
          assert.equal(cache.resourceVersionOf(ref), version);
          const result = cache.apply({
            type: "DELETED",
            kind: ref.kind,
            name: ref.name,
            ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }),
            resourceVersion: version,
            sourceTimeMs: 0,
          });
          assert.equal(result.outcome, "applied");
          assert.equal(cache.get(ref), undefined);
        }
        assert.deepEqual(cache.snapshot(), { ipcache: [], backends: [] });
        assert.equal(cache.counts().endpoints, 0);
      }),
      { numRuns: 100 },
    );
  });
});
