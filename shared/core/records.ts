/**
 * Projection of validated watch objects onto slim records, and the structural comparison that
 * tells whether a change touches anything the outputs depend on.
 */
import type {
  NamespaceObject,
  NodeObject,
  PodObject,
  ServiceObject,
  WatchedObject,
} from "#shared/k8s/watch-event-schema.ts";
import { InternPool, internString } from "./intern-pool.ts";
import { sortedLabels } from "./labels.ts";
import type {
  AddressType,
  ContainerNamedPort,
  NamespaceRecord,
  NodeRecord,
  ObjectRef,
  PodRecord,
  Protocol,
  ServiceRecord,
} from "./model.ts";

export const ZONE_LABEL = "topology.kubernetes.io/zone";
const LEGACY_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone";

export type SlimRecord =
  | { readonly kind: "Pod"; readonly record: PodRecord }
  | { readonly kind: "Service"; readonly record: ServiceRecord }
  | { readonly kind: "Namespace"; readonly record: NamespaceRecord }
  | { readonly kind: "Node"; readonly record: NodeRecord };

export function refOf(object: WatchedObject): ObjectRef {
  const namespace = "namespace" in object.metadata ? object.metadata.namespace : undefined;
  return { kind: object.kind, namespace, name: object.metadata.name };
}

export function toSlimRecord(object: WatchedObject): SlimRecord {
  switch (object.kind) {
    case "Pod":
      return { kind: "Pod", record: toPodRecord(object) };
    case "Service":
      return { kind: "Service", record: toServiceRecord(object) };
    case "Namespace":
      return { kind: "Namespace", record: toNamespaceRecord(object) };
    case "Node":
      return { kind: "Node", record: toNodeRecord(object) };
  }
}

/** Pods of one workload share their label set and port list: one frozen instance each. */
const sharedLabelSets = new InternPool<Readonly<Record<string, string>>>();
const sharedNamedPorts = new InternPool<readonly ContainerNamedPort[]>();

export function toPodRecord(pod: PodObject): PodRecord {
  const status = pod.status ?? {};
  const podIPs = podIPsOf(status);
  return {
    namespace: internString(pod.metadata.namespace),
    name: pod.metadata.name,
    uid: pod.metadata.uid ?? "",
    labels: sharedLabels(pod.metadata.labels),
    nodeName: internString(pod.spec?.nodeName || undefined),
    hostNetwork: pod.spec?.hostNetwork ?? false,
    podIPs,
    hostIP: internString(status.hostIP || undefined),
    phase: internString(status.phase || undefined),
    ready: status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    terminating: Boolean(pod.metadata.deletionTimestamp),
    namedPorts: namedPortsOf(pod),
  };
}

/**
 * Built at its exact length: an array grown by push (or filter) keeps room for 17 elements, which
 * for one IP is 130 bytes of every tracked pod.
 */
function podIPsOf(status: NonNullable<PodObject["status"]>): readonly string[] {
  let count = 0;
  for (const entry of status.podIPs ?? []) if (entry.ip.length > 0) count++;
  if (count === 0) return Object.freeze(status.podIP ? [status.podIP] : []);
  const ips = new Array<string>(count);
  let i = 0;
  for (const entry of status.podIPs ?? []) if (entry.ip.length > 0) ips[i++] = entry.ip;
  // Frozen because endpoints share it (see podAddressesOfFamily).
  return Object.freeze(ips);
}

function sharedLabels(labels: Record<string, string> | undefined): Readonly<Record<string, string>> {
  const sorted = sortedLabels(labels);
  return sharedLabelSets.intern(JSON.stringify(sorted), Object.freeze(sorted));
}

function namedPortsOf(pod: PodObject): readonly ContainerNamedPort[] {
  const ports: ContainerNamedPort[] = [];
  for (const container of pod.spec?.containers ?? []) {
    for (const port of container.ports ?? []) {
      if (port.name)
        ports.push({ name: port.name, port: port.containerPort, protocol: port.protocol ?? "TCP" });
    }
  }
  ports.sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.protocol, b.protocol));
  return sharedNamedPorts.intern(JSON.stringify(ports), Object.freeze(ports.map((p) => Object.freeze(p))));
}

export function toServiceRecord(service: ServiceObject): ServiceRecord {
  const spec = service.spec ?? {};
  const selector =
    spec.selector && Object.keys(spec.selector).length > 0 ? sortedLabels(spec.selector) : undefined;
  return {
    namespace: service.metadata.namespace,
    name: service.metadata.name,
    uid: service.metadata.uid ?? "",
    labels: sortedLabels(service.metadata.labels),
    selector,
    ports: (spec.ports ?? []).map((port) => ({
      name: port.name ?? "",
      port: port.port,
      targetPort: port.targetPort ?? port.port,
      protocol: (port.protocol ?? "TCP") as Protocol,
      appProtocol: port.appProtocol,
    })),
    type: spec.type ?? "ClusterIP",
    clusterIP: spec.clusterIP || undefined,
    ipFamilies:
      spec.ipFamilies && spec.ipFamilies.length > 0 ? (spec.ipFamilies as AddressType[]) : undefined,
    publishNotReadyAddresses: spec.publishNotReadyAddresses ?? false,
  };
}

export function toNamespaceRecord(namespace: NamespaceObject): NamespaceRecord {
  return { name: namespace.metadata.name, labels: sortedLabels(namespace.metadata.labels) };
}

export function toNodeRecord(node: NodeObject): NodeRecord {
  const labels = node.metadata.labels ?? {};
  return {
    name: node.metadata.name,
    zone: labels[ZONE_LABEL] ?? labels[LEGACY_ZONE_LABEL],
    internalIPs: (node.status?.addresses ?? []).filter((a) => a.type === "InternalIP").map((a) => a.address),
  };
}

/**
 * Deep structural equality of slim records. Records are built with sorted keys and sorted lists,
 * so equal content means equal records; a Node heartbeat or an annotation change compares equal.
 */
export function sameRecord(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => sameRecord(item, b[i]));
  }
  if (Array.isArray(b)) return false;
  const aRecord = a as Record<string, unknown>;
  const bRecord = b as Record<string, unknown>;
  const aKeys = Object.keys(aRecord).filter((k) => aRecord[k] !== undefined);
  const bKeys = Object.keys(bRecord).filter((k) => bRecord[k] !== undefined);
  if (aKeys.length !== bKeys.length) return false;
  return aKeys.every((key) => sameRecord(aRecord[key], bRecord[key]));
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
