/**
 * A watcher's held EndpointSlice computes the zone-view digests from its flat items
 * (stored-objects.ts): they must be the fan-out's (zone-view-sum.ts zoneViewSum, and the earlier
 * zone-view-sum.ts zoneViewDigest) of the slice it holds, or every zone patch would be a gap (re-read
 * from the API) or, worse, apply on the wrong content. The sum is kept current per patch, so it must
 * stay the sum of the whole slice through any run of patches.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Endpoint, EndpointPort, EndpointSlice } from "#shared/core/model.ts";
import { zoneViewDigest, zoneViewSum } from "#shared/fanout/zone-view-sum.ts";
import { endpointEntryKey, patchItems, toEndpointEntry } from "#shared/watcher/patch-items.ts";
import { StoredEndpointSlice } from "#shared/watcher/stored-objects.ts";

const text = fc.string({ minLength: 1, maxLength: 6 });
const maybe = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined });

const endpointArbitrary: fc.Arbitrary<Endpoint> = fc
  .record({
    uid: text,
    namespace: fc.constantFrom("default", "web", 'q"uote'),
    name: text,
    addresses: fc.array(fc.constantFrom("10.0.0.1", "10.0.0.2", "fd00::1"), { minLength: 1, maxLength: 3 }),
    ready: fc.boolean(),
    serving: fc.boolean(),
    terminating: fc.boolean(),
    nodeName: maybe(fc.constantFrom("n0", "n1")),
    zone: maybe(fc.constantFrom("a", "b")),
  })
  .map(({ uid, namespace, name, addresses, ready, serving, terminating, nodeName, zone }) => {
    const endpoint: Endpoint = {
      addresses,
      conditions: { ready, serving, terminating },
      targetRef: { kind: "Pod", namespace, name, uid },
    };
    if (nodeName !== undefined) endpoint.nodeName = nodeName;
    if (zone !== undefined) endpoint.zone = zone;
    return endpoint;
  });

const portArbitrary: fc.Arbitrary<EndpointPort> = fc
  .record({
    name: fc.constantFrom("", "http", "grpc"),
    port: fc.integer({ min: 1, max: 65535 }),
    protocol: fc.constantFrom("TCP" as const, "UDP" as const),
    appProtocol: maybe(fc.constantFrom("http", "kubernetes.io/h2c")),
  })
  .map(({ appProtocol, ...port }) => (appProtocol === undefined ? port : { ...port, appProtocol }));

const sliceArbitrary: fc.Arbitrary<EndpointSlice> = fc
  .record({
    labels: fc.dictionary(fc.constantFrom("b", "a", "kubernetes.io/service-name", "z"), text),
    addressType: fc.constantFrom("IPv4" as const, "IPv6" as const),
    ports: maybe(fc.array(portArbitrary, { maxLength: 3 })),
    endpoints: fc.array(endpointArbitrary, { maxLength: 12 }),
  })
  .map(({ labels, addressType, ports, endpoints }) => {
    const slice: EndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "s", namespace: "default", labels, resourceVersion: "7" },
      addressType,
      endpoints,
      ports: ports ?? [],
    };
    // A slice without ports (the field left out, as the API may serve it).
    if (ports === undefined) delete (slice as { ports?: EndpointPort[] }).ports;
    return slice;
  });

const held = (slice: EndpointSlice) =>
  new StoredEndpointSlice(slice, "7", slice.endpoints.map(toEndpointEntry));

describe("a held EndpointSlice's zone-view digests", () => {
  it("are the fan-out's zoneViewSum and zoneViewDigest of the slice, for any slice and item order", () => {
    fc.assert(
      fc.property(sliceArbitrary, (slice) => {
        const stored = held(slice);
        const reordered = { ...slice, endpoints: [...slice.endpoints].reverse() };
        const sum = stored.zoneViewSum();
        assert.equal(sum, zoneViewSum(slice));
        assert.equal(sum, zoneViewSum(reordered));
        const digest = stored.zoneViewDigest();
        assert.equal(digest, zoneViewDigest(slice));
        assert.equal(digest, zoneViewDigest(stored.toObject()));
        // Asked again (the labels' and ports' parts now cached, the sum kept), the same.
        assert.equal(stored.zoneViewDigest(), digest);
        assert.equal(stored.zoneViewSum(), sum);
      }),
      { numRuns: 500 },
    );
  });

  it("stays the sum of the whole held slice through any run of patches", () => {
    const patchArbitrary = fc.record({
      remove: fc.array(text, { maxLength: 3 }),
      upsert: fc.array(endpointArbitrary, { maxLength: 3 }),
    });
    fc.assert(
      fc.property(sliceArbitrary, fc.array(patchArbitrary, { maxLength: 8 }), (slice, patches) => {
        const stored = held(slice);
        stored.zoneViewSum();
        for (const patch of patches) {
          const upserts = patch.upsert.map(toEndpointEntry);
          const { items, displaced } = patchItems(stored.endpoints, endpointEntryKey, patch.remove, upserts);
          stored.replaceEndpoints(items, displaced, upserts);
          assert.equal(stored.zoneViewSum(), zoneViewSum(stored.toObject()));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("changes with any endpoint field, a label or a port", () => {
    fc.assert(
      fc.property(
        sliceArbitrary.filter((slice) => slice.endpoints.length > 0),
        (slice) => {
          const [first, ...rest] = slice.endpoints as [Endpoint, ...Endpoint[]];
          const flipped: Endpoint = {
            ...first,
            conditions: { ...first.conditions, ready: !first.conditions.ready },
          };
          const moved: Endpoint = { ...first, addresses: [...first.addresses, "10.9.9.9"] };
          const sum = zoneViewSum(slice);
          assert.notEqual(zoneViewSum({ ...slice, endpoints: [flipped, ...rest] }), sum);
          assert.notEqual(zoneViewSum({ ...slice, endpoints: [moved, ...rest] }), sum);
          assert.notEqual(zoneViewSum({ ...slice, endpoints: rest }), sum);
          const relabelled = { ...slice.metadata, labels: { ...slice.metadata.labels, extra: "x" } };
          assert.notEqual(zoneViewSum({ ...slice, metadata: relabelled }), sum);
          assert.notEqual(
            zoneViewSum({
              ...slice,
              ports: [...(slice.ports ?? []), { name: "p", port: 1, protocol: "TCP" }],
            }),
            sum,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("the zone-view digests of a fixed slice", () => {
  // Pinned: agents from before baseViewSum compute baseDigest with their own copy of this rule, and
  // a deployed fleet compares both; a change of either text is a change of the wire format.
  it("are the values agents already deployed compute", () => {
    const endpoint = (name: string, ip: string, ready: boolean, nodeName?: string): Endpoint => ({
      addresses: [ip],
      conditions: { ready, serving: true, terminating: !ready },
      targetRef: { kind: "Pod", namespace: "shop", name: `web-${name}`, uid: `uid-${name}` },
      ...(nodeName === undefined ? {} : { nodeName }),
      zone: "zone-a",
    });
    const view = {
      metadata: { labels: { "kubernetes.io/service-name": "web", app: "w" } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 80, protocol: "TCP" as const }],
      endpoints: [endpoint("b", "10.0.0.2", true, "node-1"), endpoint("a", "10.0.0.1", false)],
    };
    assert.equal(zoneViewDigest(view), "1e92d455efe570bf");
    assert.equal(zoneViewSum(view), "189247ef5c11e848");
  });
});
