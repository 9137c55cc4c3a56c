import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { coreEndpointForPod, coreEndpointsEqual } from "#shared/core/ciliumendpointslice/core-endpoint.ts";
import type { PodRecord } from "#shared/core/model.ts";

function pod(overrides: Partial<PodRecord> = {}): PodRecord {
  return {
    namespace: "shop",
    name: "web-1",
    uid: "uid-1",
    labels: { app: "web" },
    nodeName: "node-1",
    hostNetwork: false,
    podIPs: ["10.0.0.5"],
    hostIP: "192.168.0.1",
    phase: "Running",
    ready: true,
    terminating: false,
    namedPorts: [],
    ...overrides,
  };
}

describe("coreEndpointForPod: which pods have a CiliumEndpoint", () => {
  it("a running pod with an IP has one", () => {
    assert.deepEqual(coreEndpointForPod(pod(), 300), {
      name: "web-1",
      id: 300,
      networking: { addressing: [{ ipv4: "10.0.0.5" }], node: "192.168.0.1" },
    });
  });

  it("hostNetwork pods, pods without IP and finished pods have none", () => {
    assert.equal(coreEndpointForPod(pod({ hostNetwork: true, podIPs: ["192.168.0.1"] }), 300), undefined);
    assert.equal(coreEndpointForPod(pod({ podIPs: [], phase: "Pending" }), 300), undefined);
    assert.equal(coreEndpointForPod(pod({ phase: "Succeeded" }), 300), undefined);
    assert.equal(coreEndpointForPod(pod({ phase: "Failed" }), 300), undefined);
  });

  it("pending, not-ready and terminating pods with an IP keep theirs", () => {
    assert.ok(coreEndpointForPod(pod({ phase: "Pending" }), 300));
    assert.ok(coreEndpointForPod(pod({ ready: false }), 300));
    assert.ok(coreEndpointForPod(pod({ terminating: true }), 300));
  });
});

describe("coreEndpointForPod: fields", () => {
  it("puts a dual-stack pod's IPv4 and IPv6 into one address pair, whatever their order", () => {
    const v4First = coreEndpointForPod(pod({ podIPs: ["10.0.0.5", "fd00::5"] }), 300);
    const v6First = coreEndpointForPod(pod({ podIPs: ["fd00::5", "10.0.0.5"] }), 300);
    assert.deepEqual(v4First?.networking.addressing, [{ ipv4: "10.0.0.5", ipv6: "fd00::5" }]);
    assert.deepEqual(v6First?.networking.addressing, [{ ipv4: "10.0.0.5", ipv6: "fd00::5" }]);
  });

  it("handles IPv6-only pods", () => {
    assert.deepEqual(coreEndpointForPod(pod({ podIPs: ["fd00::5"] }), 300)?.networking.addressing, [
      { ipv6: "fd00::5" },
    ]);
  });

  it("carries named ports under Cilium's JSON name, and omits them when there are none", () => {
    const withPorts = coreEndpointForPod(
      pod({
        namedPorts: [
          { name: "http", port: 8080, protocol: "TCP" },
          { name: "dns", port: 53, protocol: "UDP" },
        ],
      }),
      300,
    );
    assert.deepEqual(withPorts?.["named-ports"], [
      { name: "http", port: 8080, protocol: "TCP" },
      { name: "dns", port: 53, protocol: "UDP" },
    ]);
    assert.equal(JSON.stringify(withPorts).includes('"named-ports":['), true);
    assert.equal("named-ports" in (coreEndpointForPod(pod(), 300) ?? {}), false);
  });

  it("omits the node IP while the pod has no hostIP", () => {
    const endpoint = coreEndpointForPod(pod({ hostIP: undefined }), 300);
    assert.deepEqual(endpoint?.networking, { addressing: [{ ipv4: "10.0.0.5" }] });
  });

  it("serializes with Cilium's CoreCiliumEndpoint field names", () => {
    const json = JSON.stringify(coreEndpointForPod(pod(), 300));
    assert.equal(
      json,
      '{"name":"web-1","id":300,"networking":{"addressing":[{"ipv4":"10.0.0.5"}],"node":"192.168.0.1"}}',
    );
  });
});

describe("coreEndpointsEqual", () => {
  it("compares content, not key order", () => {
    const a = coreEndpointForPod(pod({ namedPorts: [{ name: "http", port: 80, protocol: "TCP" }] }), 300);
    const reordered = JSON.parse(
      '{"named-ports":[{"protocol":"TCP","port":80,"name":"http"}],"networking":{"node":"192.168.0.1","addressing":[{"ipv4":"10.0.0.5"}]},"id":300,"name":"web-1"}',
    );
    assert.ok(a);
    assert.equal(coreEndpointsEqual(a, reordered), true);
    assert.equal(coreEndpointsEqual(a, { ...a, id: 301 }), false);
    assert.equal(coreEndpointsEqual(a, { ...a, "named-ports": [] }), false);
    assert.equal(
      coreEndpointsEqual(a, {
        ...a,
        networking: { addressing: [{ ipv4: "10.0.0.6" }], node: "192.168.0.1" },
      }),
      false,
    );
  });
});
