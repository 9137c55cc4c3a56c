/**
 * Builders and checks for tests of EndpointSlice reconciling (used by this module's tests and
 * open to anyone testing code that drives a ServiceSlices). Not imported by production code.
 */

import {
  desiredEndpointsForPod,
  portSetKey,
  type ZoneOf,
} from "#shared/core/endpointslice/desired-endpoints.ts";
import { endpointKey } from "#shared/core/endpointslice/endpoint-identity.ts";
import type { EndpointSlice, PodRecord, ServiceRecord } from "#shared/core/model.ts";

export function serviceRecord(overrides: Partial<ServiceRecord> = {}): ServiceRecord {
  return {
    namespace: "default",
    name: "web",
    uid: "svc-uid-1",
    labels: {},
    selector: { app: "web" },
    ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP", appProtocol: undefined }],
    type: "ClusterIP",
    clusterIP: "10.96.0.10",
    ipFamilies: ["IPv4"],
    publishNotReadyAddresses: false,
    ...overrides,
  };
}

export function podRecord(overrides: Partial<PodRecord> = {}): PodRecord {
  return {
    namespace: "default",
    name: "web-1",
    uid: `uid-${overrides.name ?? "web-1"}`,
    labels: { app: "web" },
    nodeName: "node-a",
    hostNetwork: false,
    podIPs: ["10.0.0.1"],
    hostIP: "192.168.0.1",
    phase: "Running",
    ready: true,
    terminating: false,
    namedPorts: [],
    ...overrides,
  };
}

export const noZones: ZoneOf = () => undefined;

/** One line per published endpoint: what must be in the slices, independent of packing. */
export function endpointLines(slices: readonly EndpointSlice[]): string[] {
  const lines: string[] = [];
  for (const slice of slices) {
    const portKey = portSetKey(slice.ports);
    for (const endpoint of slice.endpoints) {
      lines.push(`${slice.addressType} ${portKey} ${JSON.stringify(endpoint)}`);
    }
  }
  return lines.sort();
}

/** The reference model: every live pod's desired endpoints recomputed from scratch. */
export function expectedEndpointLines(
  service: ServiceRecord | undefined,
  pods: Iterable<PodRecord>,
  zoneOf: ZoneOf,
): string[] {
  if (service === undefined) return [];
  const lines: string[] = [];
  for (const pod of pods) {
    for (const wanted of desiredEndpointsForPod(service, pod, zoneOf)) {
      lines.push(`${wanted.addressType} ${wanted.portKey} ${JSON.stringify(wanted.endpoint)}`);
    }
  }
  return lines.sort();
}

/**
 * Everything that must hold of a Service's slices whatever the placement: capacity, no empty
 * slice, each endpoint once per (addressType, port set), addresses of the slice's family, names
 * unique and valid. Returns the violations (empty when all is well).
 */
export function sliceViolations(slices: readonly EndpointSlice[], maxEndpointsPerSlice: number): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const placed = new Map<string, string>();
  for (const slice of slices) {
    const name = slice.metadata.name;
    if (names.has(name)) problems.push(`${name}: name used twice`);
    names.add(name);
    if (name.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name))
      problems.push(`${name}: invalid name`);
    if (slice.endpoints.length === 0) problems.push(`${name}: empty`);
    if (slice.endpoints.length > maxEndpointsPerSlice) {
      problems.push(`${name}: ${slice.endpoints.length} endpoints > ${maxEndpointsPerSlice}`);
    }
    const group = `${slice.addressType} ${portSetKey(slice.ports)}`;
    for (const endpoint of slice.endpoints) {
      const key = `${group} ${endpointKey(endpoint)}`;
      const other = placed.get(key);
      if (other !== undefined) problems.push(`${name}: endpoint ${endpointKey(endpoint)} also in ${other}`);
      placed.set(key, name);
      for (const address of endpoint.addresses) {
        const v6 = address.includes(":");
        if (v6 !== (slice.addressType === "IPv6"))
          problems.push(`${name}: ${address} in an ${slice.addressType} slice`);
      }
    }
  }
  return problems;
}
