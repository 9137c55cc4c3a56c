/**
 * A watcher's held EndpointSlice computes the zone-view digest from its flat items
 * (stored-objects.ts): it must be slice-delta.ts zoneViewDigest of the slice it holds, or every
 * zone patch would be a gap (re-read from the API) or, worse, apply on the wrong content.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Endpoint, EndpointPort, EndpointSlice } from "#shared/core/model.ts";
import { zoneViewDigest } from "#shared/fanout/slice-delta.ts";
import { toEndpointEntry } from "#shared/watcher/patch-items.ts";
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

describe("a held EndpointSlice's zone-view digest", () => {
  it("is slice-delta's zoneViewDigest of the slice, for any slice and item order", () => {
    fc.assert(
      fc.property(sliceArbitrary, (slice) => {
        const stored = new StoredEndpointSlice(slice, "7", slice.endpoints.map(toEndpointEntry));
        const digest = stored.zoneViewDigest();
        assert.equal(digest, zoneViewDigest(slice));
        assert.equal(digest, zoneViewDigest(stored.toObject()));
        // Asked again (the labels' and ports' parts now cached), the same.
        assert.equal(stored.zoneViewDigest(), digest);
      }),
      { numRuns: 500 },
    );
  });
});
