import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ciliumEndpointForPod } from "#scripts/bench/baselines/cilium-endpoint.ts";
import { coreEndpointForPod } from "#shared/core/ciliumendpointslice/core-endpoint.ts";
import { NamespaceCiliumEndpointSlices } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { IdentityAllocator } from "#shared/core/identity/identity-allocator.ts";
import { securityLabels } from "#shared/core/identity/security-labels.ts";
import type { CoreCiliumEndpoint, NamespaceRecord, PodRecord } from "#shared/core/model.ts";

const NAMESPACE: NamespaceRecord = {
  name: "checkout",
  labels: { "kubernetes.io/metadata.name": "checkout", team: "payments", env: "production" },
};

/** A Deployment pod as kubectl shows it: ~6 labels, one IP, two named ports. */
function deploymentPod(index: number): PodRecord {
  const suffix = index.toString(36).padStart(5, "x");
  return {
    namespace: NAMESPACE.name,
    name: `checkout-api-6f7d8b9c5d-${suffix}`,
    uid: `3f2b1c4d-5e6f-4a7b-8c9d-${index.toString(16).padStart(12, "0")}`,
    labels: {
      app: "checkout-api",
      "app.kubernetes.io/name": "checkout-api",
      "app.kubernetes.io/instance": "checkout-api-prod",
      "app.kubernetes.io/version": "2.14.1",
      "app.kubernetes.io/component": "backend",
      "pod-template-hash": "6f7d8b9c5d",
    },
    nodeName: `ip-10-1-${index % 50}-${index % 200}.eu-west-1.compute.internal`,
    hostNetwork: false,
    podIPs: [`10.1.${Math.floor(index / 250)}.${index % 250}`],
    hostIP: `10.0.${index % 50}.${index % 200}`,
    phase: "Running",
    ready: true,
    terminating: false,
    namedPorts: [
      { name: "http", port: 8080, protocol: "TCP" },
      { name: "metrics", port: 9090, protocol: "TCP" },
    ],
  };
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), "utf8");
}

describe("serialized size: CiliumEndpointSlice vs one CiliumEndpoint per pod", () => {
  it("a full 50-entry slice costs at most a fifth of a CiliumEndpoint per endpoint", (t) => {
    const allocator = new IdentityAllocator();
    const pods = Array.from({ length: 50 }, (_, i) => deploymentPod(i));
    const identityLabels = securityLabels(pods[0] as PodRecord, NAMESPACE);
    const { id } = allocator.acquire(identityLabels, 0);

    const cepBytes = pods.map((pod) => jsonBytes(ciliumEndpointForPod(pod, { id, labels: identityLabels })));
    const cepPerEndpoint = cepBytes.reduce((a, b) => a + b, 0) / cepBytes.length;

    const slices = new NamespaceCiliumEndpointSlices(NAMESPACE.name, {
      maxEndpointsPerCES: 50,
      batchingMode: "fcfs",
    });
    const writes = slices.reconcile(
      pods.map((pod) => [pod.name, coreEndpointForPod(pod, id) as CoreCiliumEndpoint]),
    );
    assert.equal(writes.creates.length, 1);
    const slice = writes.creates[0];
    // Stored objects carry a resourceVersion; count it so the comparison is fair.
    if (slice !== undefined) slice.metadata.resourceVersion = "123456789";
    const cesBytes = jsonBytes(slice);
    const cesPerEndpoint = cesBytes / 50;
    const identityBytes = jsonBytes(allocator.toCiliumIdentity(id));

    t.diagnostic(`CiliumEndpoint: ${cepPerEndpoint.toFixed(0)} B per endpoint (talk: ~2.2 kB)`);
    t.diagnostic(
      `CiliumEndpointSlice of 50: ${cesBytes} B total, ${cesPerEndpoint.toFixed(1)} B per endpoint (talk: ~20.8 kB)`,
    );
    t.diagnostic(
      `ratio: ${(cepPerEndpoint / cesPerEndpoint).toFixed(2)}x; the shared CiliumIdentity: ${identityBytes} B once`,
    );
    assert.ok(
      cesPerEndpoint <= cepPerEndpoint / 5,
      `${cesPerEndpoint} B vs ${cepPerEndpoint} B per endpoint`,
    );
  });
});
