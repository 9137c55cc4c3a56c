import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { copyCoreEndpoint, coreEndpointsEqual } from "#shared/core/ciliumendpointslice/core-endpoint.ts";
import { NamespaceCiliumEndpointSlices } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { packEntry, storedEntryEquals, unpackEntry } from "#shared/core/ciliumendpointslice/packed-entry.ts";
import type { CiliumEndpointSlice, CoreCiliumEndpoint } from "#shared/core/model.ts";

const PORTS = [{ name: "http", port: 8080, protocol: "TCP" as const }];

/** Entries as a pod yields them and as storage may hand them back. */
const SHAPES: Record<string, CoreCiliumEndpoint> = {
  ipv4: { name: "a", id: 300, networking: { addressing: [{ ipv4: "10.0.0.1" }], node: "192.168.0.1" } },
  ipv6: { name: "a", id: 300, networking: { addressing: [{ ipv6: "fd00::1" }] } },
  dualStack: {
    name: "a",
    id: 300,
    networking: { addressing: [{ ipv4: "10.0.0.1", ipv6: "fd00::1" }], node: "192.168.0.1" },
    "named-ports": PORTS,
  },
  ipv6First: { name: "a", id: 300, networking: { addressing: [{ ipv6: "fd00::1", ipv4: "10.0.0.1" }] } },
  twoPairs: { name: "a", id: 300, networking: { addressing: [{ ipv4: "10.0.0.1" }, { ipv6: "fd00::1" }] } },
  noPair: { name: "a", id: 300, networking: { addressing: [] } },
  emptyPorts: { name: "a", id: 300, networking: { addressing: [{ ipv4: "10.0.0.1" }] }, "named-ports": [] },
  extraPairKey: {
    name: "a",
    id: 300,
    networking: { addressing: [{ ipv4: "10.0.0.1", zone: "z" } as { ipv4: string }] },
  },
};

describe("CiliumEndpointSlice entries as held between writes", () => {
  for (const [shape, entry] of Object.entries(SHAPES)) {
    it(`hands out what a copy of the original would be, and compares like it: ${shape}`, () => {
      const stored = packEntry(entry);
      assert.deepStrictEqual(unpackEntry(stored), copyCoreEndpoint(entry));
      assert.equal(JSON.stringify(unpackEntry(stored)), JSON.stringify(copyCoreEndpoint(entry)));
      for (const [otherShape, other] of Object.entries(SHAPES)) {
        assert.equal(
          storedEntryEquals(stored, other),
          coreEndpointsEqual(entry, other),
          `${shape} vs ${otherShape}`,
        );
      }
    });
  }

  it("round-trips every shape through a slice read back from storage", () => {
    const endpoints = Object.values(SHAPES).map((entry, i) => ({ ...entry, name: `p${i}` }));
    const stored: CiliumEndpointSlice = {
      apiVersion: "cilium.io/v2alpha1",
      kind: "CiliumEndpointSlice",
      metadata: { name: "ces-shop-1", resourceVersion: "7" },
      namespace: "shop",
      endpoints,
    };
    const slices = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 50 }, [stored]);
    assert.deepStrictEqual(slices.slices(), [{ ...stored, endpoints: endpoints.map(copyCoreEndpoint) }]);
  });
});
