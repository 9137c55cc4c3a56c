/**
 * The engine's stored outputs checked against the reference model (test/support/reference-model.ts):
 * endpoints per Service, slice size bounds, one identity per label set, CiliumEndpointSlice entries.
 */
import assert from "node:assert/strict";
import type { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
import type { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";
import {
  canonicalPorts,
  endpointKeyOf,
  expectedCiliumEndpoints,
  expectedEndpoints,
  expectedSecurityLabels,
} from "#test/support/reference-model.ts";

export function publishedEndpoints(store: MemoryClusterStore): string[] {
  const published: string[] = [];
  for (const { object } of store.objects("EndpointSlice").values()) {
    const slice = object as EndpointSlice;
    const service = `${slice.metadata.namespace}/${slice.metadata.labels["kubernetes.io/service-name"]}`;
    for (const endpoint of slice.endpoints) {
      for (const address of endpoint.addresses) {
        published.push(
          endpointKeyOf({
            service,
            addressType: slice.addressType,
            ports: canonicalPorts(slice.ports),
            pod: endpoint.targetRef.name,
            address,
            ...endpoint.conditions,
            zone: endpoint.zone,
          }),
        );
      }
    }
  }
  return published;
}

export function checkAgainstReference(
  store: MemoryClusterStore,
  sim: ClusterSimulator,
  settings: SlicingSettings,
): void {
  const published = publishedEndpoints(store);
  assert.equal(new Set(published).size, published.length, "an endpoint appears in two slices");
  assert.deepEqual(new Set(published), expectedEndpoints(sim));
  for (const { object } of store.objects("EndpointSlice").values()) {
    const slice = object as EndpointSlice;
    assert.ok(slice.endpoints.length >= 1 && slice.endpoints.length <= settings.maxEndpointsPerSlice);
  }

  const identities = new Map<number, string>();
  for (const { object } of store.objects("CiliumIdentity").values()) {
    const identity = object as CiliumIdentity;
    const id = Number(identity.metadata.name);
    assert.ok(id >= 256 && id <= 65535);
    const labels = Object.entries(identity["security-labels"])
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(",");
    identities.set(id, labels);
  }
  assert.equal(new Set(identities.values()).size, identities.size, "two identities for one label set");

  const expected = expectedCiliumEndpoints(sim);
  const seen = new Set<string>();
  for (const { object } of store.objects("CiliumEndpointSlice").values()) {
    const ces = object as CiliumEndpointSlice;
    assert.ok(ces.endpoints.length >= 1 && ces.endpoints.length <= settings.maxEndpointsPerCES);
    for (const entry of ces.endpoints) {
      const key = `${ces.namespace}/${entry.name}`;
      assert.ok(!seen.has(key), `${key} in two CiliumEndpointSlices`);
      seen.add(key);
      const want = expected.get(key);
      assert.ok(want !== undefined, `${key} should not have a CiliumEndpointSlice entry`);
      assert.deepEqual(entry.networking.addressing, [
        { ...(want.ipv4 ? { ipv4: want.ipv4 } : {}), ...(want.ipv6 ? { ipv6: want.ipv6 } : {}) },
      ]);
      assert.equal(entry.networking.node, want.node);
      const pod = sim.pods.get(key);
      assert.ok(pod !== undefined);
      assert.equal(identities.get(entry.id), expectedSecurityLabels(sim, pod), `identity of ${key}`);
    }
  }
  assert.deepEqual(seen, new Set(expected.keys()));
}
