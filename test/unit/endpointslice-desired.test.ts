import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  desiredEndpointsForPod,
  isManagedService,
  serviceAddressTypes,
} from "#shared/core/endpointslice/desired-endpoints.ts";
import { noZones, podRecord, serviceRecord } from "#test/support/endpointslice-fixtures.ts";

const zones = (node: string) => ({ "node-a": "zone-1", "node-b": "zone-2" })[node];

describe("isManagedService", () => {
  it("manages a Service with a selector", () => {
    assert.equal(isManagedService(serviceRecord()), true);
  });

  it("leaves Services without selector and ExternalName Services alone", () => {
    assert.equal(isManagedService(serviceRecord({ selector: undefined })), false);
    assert.equal(isManagedService(serviceRecord({ type: "ExternalName" })), false);
  });
});

describe("serviceAddressTypes", () => {
  it("takes spec.ipFamilies when set", () => {
    assert.deepEqual(serviceAddressTypes(serviceRecord({ ipFamilies: ["IPv6", "IPv4"] })), ["IPv6", "IPv4"]);
  });

  it("falls back to the family of the clusterIP", () => {
    const v4 = serviceRecord({ ipFamilies: undefined, clusterIP: "10.96.0.1" });
    const v6 = serviceRecord({ ipFamilies: undefined, clusterIP: "fd00::1" });
    assert.deepEqual(serviceAddressTypes(v4), ["IPv4"]);
    assert.deepEqual(serviceAddressTypes(v6), ["IPv6"]);
  });

  it("assumes both families for a headless or unallocated Service", () => {
    assert.deepEqual(serviceAddressTypes(serviceRecord({ ipFamilies: undefined, clusterIP: "None" })), [
      "IPv4",
      "IPv6",
    ]);
    assert.deepEqual(serviceAddressTypes(serviceRecord({ ipFamilies: undefined, clusterIP: undefined })), [
      "IPv4",
      "IPv6",
    ]);
  });
});

describe("desiredEndpointsForPod", () => {
  it("publishes a ready pod with its node, zone, ports and pod reference", () => {
    const pod = podRecord({ name: "web-1", uid: "u1", nodeName: "node-a", podIPs: ["10.0.0.7"] });
    const [desired, ...rest] = desiredEndpointsForPod(serviceRecord(), pod, zones);
    assert.equal(rest.length, 0);
    assert.deepEqual(desired, {
      addressType: "IPv4",
      portKey: desired?.portKey,
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoint: {
        addresses: ["10.0.0.7"],
        conditions: { ready: true, serving: true, terminating: false },
        targetRef: { kind: "Pod", namespace: "default", name: "web-1", uid: "u1" },
        nodeName: "node-a",
        zone: "zone-1",
      },
    });
  });

  it("publishes nothing for a pod the selector does not match or in another namespace", () => {
    assert.deepEqual(
      desiredEndpointsForPod(serviceRecord(), podRecord({ labels: { app: "db" } }), noZones),
      [],
    );
    assert.deepEqual(desiredEndpointsForPod(serviceRecord(), podRecord({ namespace: "other" }), noZones), []);
  });

  it("publishes nothing for an unmanaged Service", () => {
    assert.deepEqual(
      desiredEndpointsForPod(serviceRecord({ selector: undefined }), podRecord(), noZones),
      [],
    );
    assert.deepEqual(
      desiredEndpointsForPod(serviceRecord({ type: "ExternalName" }), podRecord(), noZones),
      [],
    );
  });

  it("drops pods that finished (Succeeded or Failed), even when they still report an IP", () => {
    for (const phase of ["Succeeded", "Failed"]) {
      assert.deepEqual(desiredEndpointsForPod(serviceRecord(), podRecord({ phase }), noZones), []);
    }
  });

  it("drops pods without an IP", () => {
    assert.deepEqual(
      desiredEndpointsForPod(serviceRecord(), podRecord({ podIPs: [], phase: "Pending" }), noZones),
      [],
    );
  });

  it("publishes a not-ready pod as neither ready nor serving", () => {
    const [desired] = desiredEndpointsForPod(serviceRecord(), podRecord({ ready: false }), noZones);
    assert.deepEqual(desired?.endpoint.conditions, { ready: false, serving: false, terminating: false });
  });

  it("keeps a terminating pod: not ready, serving while its Ready condition holds", () => {
    const service = serviceRecord();
    const stillReady = desiredEndpointsForPod(
      service,
      podRecord({ terminating: true, ready: true }),
      noZones,
    );
    const notReady = desiredEndpointsForPod(service, podRecord({ terminating: true, ready: false }), noZones);
    assert.deepEqual(stillReady[0]?.endpoint.conditions, { ready: false, serving: true, terminating: true });
    assert.deepEqual(notReady[0]?.endpoint.conditions, { ready: false, serving: false, terminating: true });
  });

  it("reports ready for every pod, terminating ones too, when the Service publishes not-ready addresses", () => {
    const service = serviceRecord({ publishNotReadyAddresses: true });
    const notReady = desiredEndpointsForPod(service, podRecord({ ready: false }), noZones);
    const terminating = desiredEndpointsForPod(
      service,
      podRecord({ terminating: true, ready: false }),
      noZones,
    );
    assert.deepEqual(notReady[0]?.endpoint.conditions, { ready: true, serving: false, terminating: false });
    assert.deepEqual(terminating[0]?.endpoint.conditions, { ready: true, serving: false, terminating: true });
  });

  it("resolves a named targetPort per pod by name and protocol, skipping it where the pod lacks it", () => {
    const service = serviceRecord({
      ports: [
        { name: "http", port: 80, targetPort: "web", protocol: "TCP", appProtocol: "http" },
        { name: "metrics", port: 9090, targetPort: 9090, protocol: "TCP", appProtocol: undefined },
      ],
    });
    const a = podRecord({ name: "a", namedPorts: [{ name: "web", port: 8080, protocol: "TCP" }] });
    const b = podRecord({ name: "b", namedPorts: [{ name: "web", port: 8081, protocol: "TCP" }] });
    const udpOnly = podRecord({ name: "c", namedPorts: [{ name: "web", port: 8080, protocol: "UDP" }] });
    const [da] = desiredEndpointsForPod(service, a, noZones);
    const [db] = desiredEndpointsForPod(service, b, noZones);
    const [dc] = desiredEndpointsForPod(service, udpOnly, noZones);
    assert.deepEqual(da?.ports, [
      { name: "http", port: 8080, protocol: "TCP", appProtocol: "http" },
      { name: "metrics", port: 9090, protocol: "TCP" },
    ]);
    assert.deepEqual(dc?.ports, [{ name: "metrics", port: 9090, protocol: "TCP" }]);
    assert.notEqual(da?.portKey, db?.portKey);
    assert.notEqual(da?.portKey, dc?.portKey);
    assert.equal(da?.portKey, desiredEndpointsForPod(service, { ...a, name: "a2" }, noZones)[0]?.portKey);
  });

  it("gives each address type of the Service the pod's IP of that family", () => {
    const dualService = serviceRecord({ ipFamilies: ["IPv4", "IPv6"] });
    const dualPod = podRecord({ podIPs: ["10.0.0.1", "fd00::1"] });
    const v4Pod = podRecord({ podIPs: ["10.0.0.2"] });
    assert.deepEqual(
      desiredEndpointsForPod(dualService, dualPod, noZones).map((d) => [d.addressType, d.endpoint.addresses]),
      [
        ["IPv4", ["10.0.0.1"]],
        ["IPv6", ["fd00::1"]],
      ],
    );
    assert.deepEqual(
      desiredEndpointsForPod(dualService, v4Pod, noZones).map((d) => d.addressType),
      ["IPv4"],
    );
    const v6Service = serviceRecord({ ipFamilies: ["IPv6"] });
    assert.deepEqual(desiredEndpointsForPod(v6Service, v4Pod, noZones), []);
  });

  it("puts pods of a headless Service without ipFamilies in the slices of their own family", () => {
    const headless = serviceRecord({ ipFamilies: undefined, clusterIP: "None", ports: [] });
    const v6Pod = podRecord({ podIPs: ["FD00:0:0::5"] });
    const desired = desiredEndpointsForPod(headless, v6Pod, noZones);
    assert.deepEqual(
      desired.map((d) => [d.addressType, d.endpoint.addresses, d.ports]),
      [["IPv6", ["fd00::5"], []]],
    );
  });

  it("includes hostNetwork pods under their (node) IP", () => {
    const pod = podRecord({ hostNetwork: true, podIPs: ["192.168.0.1"], hostIP: "192.168.0.1" });
    assert.deepEqual(
      desiredEndpointsForPod(serviceRecord(), pod, noZones).map((d) => d.endpoint.addresses),
      [["192.168.0.1"]],
    );
  });

  it("sets the zone only where the node's zone is known, and no node fields for an unscheduled pod", () => {
    const unknownZone = desiredEndpointsForPod(serviceRecord(), podRecord({ nodeName: "node-z" }), zones)[0];
    const unscheduled = desiredEndpointsForPod(serviceRecord(), podRecord({ nodeName: undefined }), zones)[0];
    assert.equal(unknownZone?.endpoint.nodeName, "node-z");
    assert.equal("zone" in (unknownZone?.endpoint ?? {}), false);
    assert.equal("nodeName" in (unscheduled?.endpoint ?? {}), false);
  });

  it("ignores IPs that do not parse and canonicalizes the ones that do", () => {
    const pod = podRecord({ podIPs: ["not-an-ip", "010.000.001.002"] });
    assert.deepEqual(
      desiredEndpointsForPod(serviceRecord(), pod, noZones).map((d) => d.endpoint.addresses),
      [["10.0.1.2"]],
    );
  });
});
