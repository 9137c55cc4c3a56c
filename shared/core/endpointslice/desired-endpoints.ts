/**
 * Which endpoints a pod contributes to a Service: the membership rules of the Kubernetes
 * EndpointSlice controller (k8s.io/endpointslice: ShouldPodBeInEndpoints, podToEndpoint,
 * getEndpointPorts, getAddressTypesForService, FindPort), restated over slim records.
 *
 * Pure: no state, no clock. Everything a slice writer needs to place an endpoint is in the result,
 * including the key of the port set it belongs to.
 */
import { selectorMatches } from "#shared/core/labels.ts";
import type {
  AddressType,
  ContainerNamedPort,
  Endpoint,
  EndpointPort,
  PodRecord,
  ServicePortRecord,
  ServiceRecord,
} from "#shared/core/model.ts";
import { newEndpoint, sharedConditions } from "./endpoint-identity.ts";
import { clusterIPFamily, parseAddress } from "./ip-address.ts";

export interface DesiredEndpoint {
  readonly addressType: AddressType;
  /** Canonical text of `ports`: endpoints with equal keys share slices, others never do. */
  readonly portKey: string;
  /** Frozen and shared between the endpoints of a Service that resolve to the same ports. */
  readonly ports: readonly EndpointPort[];
  readonly endpoint: Endpoint;
}

export type ZoneOf = (nodeName: string) => string | undefined;

/** Services without selector get slices written by their owner, ExternalName ones get none. */
export function isManagedService(service: ServiceRecord): boolean {
  return service.selector !== undefined && service.type !== "ExternalName";
}

/**
 * spec.ipFamilies when set; else the family of the clusterIP; else both, because a headless
 * Service whose families were never defaulted may select pods of either family.
 */
export function serviceAddressTypes(service: ServiceRecord): AddressType[] {
  const fromFamilies: AddressType[] = [];
  for (const family of service.ipFamilies ?? []) {
    if ((family === "IPv4" || family === "IPv6") && !fromFamilies.includes(family)) fromFamilies.push(family);
  }
  if (fromFamilies.length > 0) return fromFamilies;
  const clusterIP = service.clusterIP ?? "";
  if (clusterIP !== "" && clusterIP !== "None") return [clusterIPFamily(clusterIP)];
  return ["IPv4", "IPv6"];
}

/** Succeeded and Failed pods never serve again; a pod without IP cannot be reached yet. */
export function podCanBeEndpoint(pod: PodRecord): boolean {
  if (pod.phase === "Succeeded" || pod.phase === "Failed") return false;
  return pod.podIPs.length > 0;
}

export function desiredEndpointsForPod(
  service: ServiceRecord,
  pod: PodRecord,
  zoneOf: ZoneOf,
): DesiredEndpoint[] {
  if (!isManagedService(service) || service.selector === undefined) return [];
  if (pod.namespace !== service.namespace) return [];
  if (!selectorMatches(service.selector, pod.labels)) return [];
  if (!podCanBeEndpoint(pod)) return [];

  const facts = serviceFacts(service);
  const { ports, portKey } = facts.portsFor(pod);
  const conditions = endpointConditions(service, pod);
  const location = endpointLocation(pod, zoneOf);
  const desired: DesiredEndpoint[] = [];
  for (const addressType of facts.addressTypes) {
    const addresses = podAddressesOfFamily(pod, addressType);
    // A single-stack pod has no address of the other family and so no endpoint in its slices.
    if (addresses.length === 0) continue;
    const targetRef: Endpoint["targetRef"] = {
      kind: "Pod",
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
    };
    const endpoint = newEndpoint(addresses, conditions, targetRef, location.nodeName, location.zone);
    desired.push({ addressType, portKey, ports, endpoint });
  }
  return desired;
}

interface ResolvedPorts {
  readonly ports: readonly EndpointPort[];
  readonly portKey: string;
}

/** What every pod of a reconcile needs from its Service, worked out once per Service record. */
interface ServiceFacts {
  readonly addressTypes: readonly AddressType[];
  portsFor(pod: PodRecord): ResolvedPorts;
}

const factsByService = new WeakMap<ServiceRecord, ServiceFacts>();

function serviceFacts(service: ServiceRecord): ServiceFacts {
  let facts = factsByService.get(service);
  if (facts === undefined) {
    facts = computeServiceFacts(service);
    factsByService.set(service, facts);
  }
  return facts;
}

function computeServiceFacts(service: ServiceRecord): ServiceFacts {
  const addressTypes = Object.freeze(serviceAddressTypes(service));
  const resolve = (namedPorts: readonly ContainerNamedPort[]): ResolvedPorts => {
    const ports = Object.freeze(resolveServicePorts(service, namedPorts).map((p) => Object.freeze(p)));
    return { ports, portKey: portSetKey(ports) };
  };
  if (service.ports.every((p) => typeof p.targetPort === "number")) {
    // Numeric target ports resolve the same for every pod: one port set, one key.
    const same = resolve([]);
    return { addressTypes, portsFor: () => same };
  }
  // Records of the same pod often share their namedPorts array; resolve each array once.
  const byNamedPorts = new WeakMap<object, ResolvedPorts>();
  return {
    addressTypes,
    portsFor: (pod) => {
      let resolved = byNamedPorts.get(pod.namedPorts);
      if (resolved === undefined) {
        resolved = resolve(pod.namedPorts);
        byNamedPorts.set(pod.namedPorts, resolved);
      }
      return resolved;
    },
  };
}

/**
 * ready is never true for a terminating pod unless the Service publishes not-ready addresses;
 * serving keeps reporting the Ready condition so proxies can drain to terminating endpoints.
 */
function endpointConditions(service: ServiceRecord, pod: PodRecord): Endpoint["conditions"] {
  const serving = pod.ready;
  const terminating = pod.terminating;
  const ready = service.publishNotReadyAddresses || (serving && !terminating);
  return sharedConditions(ready, serving, terminating);
}

function endpointLocation(pod: PodRecord, zoneOf: ZoneOf): { nodeName?: string; zone?: string } {
  if (pod.nodeName === undefined || pod.nodeName === "") return {};
  const zone = zoneOf(pod.nodeName);
  return zone === undefined || zone === "" ? { nodeName: pod.nodeName } : { nodeName: pod.nodeName, zone };
}

/**
 * Every pod IP of the family, canonicalized and sorted (the controller sorts them while hashing).
 * A valid pod has at most one IP per family, so this is its IP of that family.
 */
function podAddressesOfFamily(pod: PodRecord, addressType: AddressType): string[] {
  let only: string | undefined;
  let more: string[] | undefined;
  for (const ip of pod.podIPs) {
    const parsed = parseAddress(ip);
    if (parsed === undefined || parsed.family !== addressType) continue;
    if (only === undefined) only = parsed.address;
    else if (more === undefined) more = [only, parsed.address];
    else more.push(parsed.address);
  }
  // Literal or copied arrays are allocated at their length; a pushed-to one keeps room for 17.
  if (more !== undefined) return more.sort().slice();
  if (only === undefined) return [];
  // A single-stack pod's own list is this list: shared (records are immutable), not copied.
  if (pod.podIPs.length === 1 && pod.podIPs[0] === only) return pod.podIPs as string[];
  return [only];
}

/**
 * The Service ports this pod actually serves. A named targetPort that the pod does not expose
 * (with the same protocol) leaves that port out for this pod only, as the controller does.
 */
export function endpointPortsForPod(service: ServiceRecord, pod: PodRecord): EndpointPort[] {
  return resolveServicePorts(service, pod.namedPorts);
}

function resolveServicePorts(
  service: ServiceRecord,
  namedPorts: readonly ContainerNamedPort[],
): EndpointPort[] {
  const ports: EndpointPort[] = [];
  for (const servicePort of service.ports) {
    const port = resolveTargetPort(servicePort, namedPorts);
    if (port === undefined) continue;
    const endpointPort: EndpointPort = { name: servicePort.name, port, protocol: servicePort.protocol };
    if (servicePort.appProtocol !== undefined) endpointPort.appProtocol = servicePort.appProtocol;
    ports.push(endpointPort);
  }
  return ports.sort(comparePorts);
}

/** FindPort: a number as is; a name must match a container port of the same protocol. */
function resolveTargetPort(
  servicePort: ServicePortRecord,
  namedPorts: readonly ContainerNamedPort[],
): number | undefined {
  if (typeof servicePort.targetPort === "number") return servicePort.targetPort;
  const named = namedPorts.find(
    (port) => port.name === servicePort.targetPort && port.protocol === servicePort.protocol,
  );
  return named?.port;
}

/** Sorted so that the same set of ports always yields the same slice ports and the same key. */
export function comparePorts(a: EndpointPort, b: EndpointPort): number {
  return (
    compareText(a.name, b.name) ||
    compareText(a.protocol, b.protocol) ||
    a.port - b.port ||
    compareText(a.appProtocol ?? "", b.appProtocol ?? "")
  );
}

/** The key of a port set, independent of the order the ports are listed in. */
export function portSetKey(ports: readonly EndpointPort[]): string {
  const sorted = [...ports].sort(comparePorts);
  return JSON.stringify(sorted.map((p) => [p.name, p.protocol, p.port, p.appProtocol ?? null]));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
