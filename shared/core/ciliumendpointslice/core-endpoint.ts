/**
 * The minimal endpoint a CiliumEndpointSlice carries per pod (Cilium's v2alpha1 CoreCiliumEndpoint):
 * just what a node needs for its ipcache and named-port lookups. The identity travels as a number;
 * the labels behind it live once in the CiliumIdentity, which is what makes a slice entry ~5x
 * smaller than a full CiliumEndpoint.
 */
import type { ContainerNamedPort, CoreCiliumEndpoint, PodRecord } from "#shared/core/model.ts";

/**
 * undefined when Cilium would have no CiliumEndpoint for the pod: hostNetwork pods (Cilium does not
 * manage their networking; their IP is the node's), pods without an IP yet, and finished pods
 * (Succeeded/Failed), whose IP may already belong to someone else. Terminating pods keep theirs
 * until they are gone, as in Cilium.
 */
export function coreEndpointForPod(pod: PodRecord, identityId: number): CoreCiliumEndpoint | undefined {
  if (!podHasCiliumEndpoint(pod)) return undefined;
  const endpoint: CoreCiliumEndpoint = {
    name: pod.name,
    id: identityId,
    networking: { addressing: [addressPair(pod.podIPs)] },
  };
  if (pod.hostIP !== undefined && pod.hostIP !== "") endpoint.networking.node = pod.hostIP;
  // The pod record's list is immutable and shared by the pods of a workload: no copy per entry.
  if (pod.namedPorts.length > 0) endpoint["named-ports"] = pod.namedPorts as ContainerNamedPort[];
  return endpoint;
}

export function podHasCiliumEndpoint(pod: PodRecord): boolean {
  return !pod.hostNetwork && pod.podIPs.length > 0 && pod.phase !== "Succeeded" && pod.phase !== "Failed";
}

/**
 * Cilium writes one address pair holding the endpoint's IPv4 and IPv6 together (the first of each
 * family), not one entry per IP.
 */
export function addressPair(podIPs: readonly string[]): { ipv4?: string; ipv6?: string } {
  const pair: { ipv4?: string; ipv6?: string } = {};
  for (const ip of podIPs) {
    if (ip.includes(":")) pair.ipv6 ??= ip;
    else pair.ipv4 ??= ip;
  }
  return pair;
}

export function copyCoreEndpoint(endpoint: CoreCiliumEndpoint): CoreCiliumEndpoint {
  const copy: CoreCiliumEndpoint = {
    name: endpoint.name,
    id: endpoint.id,
    networking: { addressing: endpoint.networking.addressing.map((pair) => ({ ...pair })) },
  };
  if (endpoint.networking.node !== undefined) copy.networking.node = endpoint.networking.node;
  const ports = endpoint["named-ports"];
  if (ports !== undefined) copy["named-ports"] = ports.map(copyNamedPort);
  return copy;
}

/** Field-by-field, so entries read back from storage with another key order still compare equal. */
export function coreEndpointsEqual(a: CoreCiliumEndpoint, b: CoreCiliumEndpoint): boolean {
  if (a.name !== b.name || a.id !== b.id || a.networking.node !== b.networking.node) return false;
  const aPairs = a.networking.addressing;
  const bPairs = b.networking.addressing;
  if (aPairs.length !== bPairs.length) return false;
  for (let i = 0; i < aPairs.length; i++) {
    if (aPairs[i]?.ipv4 !== bPairs[i]?.ipv4 || aPairs[i]?.ipv6 !== bPairs[i]?.ipv6) return false;
  }
  const aPorts = a["named-ports"] ?? [];
  const bPorts = b["named-ports"] ?? [];
  if (aPorts.length !== bPorts.length) return false;
  for (let i = 0; i < aPorts.length; i++) {
    const p = aPorts[i] as ContainerNamedPort;
    const q = bPorts[i] as ContainerNamedPort;
    if (p.name !== q.name || p.port !== q.port || p.protocol !== q.protocol) return false;
  }
  return true;
}

function copyNamedPort(port: ContainerNamedPort): ContainerNamedPort {
  return { name: port.name, port: port.port, protocol: port.protocol };
}
