/**
 * Slim records: the only fields of Kubernetes objects that sliceline's outputs depend on.
 *
 * Full watch objects are projected onto these as soon as they are validated, so caches hold a
 * few hundred bytes per pod instead of the whole object (the seeds' lesson), and "did anything
 * that matters change?" is a structural comparison of two records.
 */

export type Protocol = "TCP" | "UDP" | "SCTP";
export type AddressType = "IPv4" | "IPv6";

export interface ContainerNamedPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface PodRecord {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Sorted by key, so two records with the same labels compare equal. */
  readonly labels: Readonly<Record<string, string>>;
  readonly nodeName: string | undefined;
  readonly hostNetwork: boolean;
  /** status.podIPs (or [status.podIP]) in the order the kubelet reported them. */
  readonly podIPs: readonly string[];
  readonly hostIP: string | undefined;
  readonly phase: string | undefined;
  /** The pod's Ready condition is True. */
  readonly ready: boolean;
  /** metadata.deletionTimestamp is set. */
  readonly terminating: boolean;
  /** containers[].ports[] that have a name, sorted by (name, protocol). */
  readonly namedPorts: readonly ContainerNamedPort[];
}

export interface ServicePortRecord {
  readonly name: string;
  readonly port: number;
  /** A number, or the name of a container port resolved per pod. */
  readonly targetPort: number | string;
  readonly protocol: Protocol;
  readonly appProtocol: string | undefined;
}

export interface ServiceRecord {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  /** undefined: the Service has no selector and gets no managed EndpointSlices. */
  readonly selector: Readonly<Record<string, string>> | undefined;
  readonly ports: readonly ServicePortRecord[];
  readonly type: string;
  readonly clusterIP: string | undefined;
  readonly ipFamilies: readonly AddressType[] | undefined;
  readonly publishNotReadyAddresses: boolean;
}

export interface NamespaceRecord {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface NodeRecord {
  readonly name: string;
  /** topology.kubernetes.io/zone */
  readonly zone: string | undefined;
  /** status.addresses of type InternalIP, in order. */
  readonly internalIPs: readonly string[];
}

export type ObjectKind = "Pod" | "Service" | "Namespace" | "Node";

export interface RecordOfKind {
  Pod: PodRecord;
  Service: ServiceRecord;
  Namespace: NamespaceRecord;
  Node: NodeRecord;
}

/** Identifies one watched object: kind plus namespace/name (name alone for cluster-scoped kinds). */
export interface ObjectRef {
  readonly kind: ObjectKind;
  readonly namespace: string | undefined;
  readonly name: string;
}

export function objectKey(ref: ObjectRef): string {
  return ref.namespace === undefined ? `${ref.kind}/${ref.name}` : `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export function podKey(pod: { readonly namespace: string; readonly name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

// ---------------------------------------------------------------------------------------------
// Output objects, in the shape Kubernetes clients read.
// ---------------------------------------------------------------------------------------------

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  resourceVersion?: string;
  /** When the object was first written (RFC 3339). */
  creationTimestamp?: string;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
}

export interface EndpointConditions {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions: EndpointConditions;
  nodeName?: string;
  zone?: string;
  targetRef: { kind: "Pod"; namespace: string; name: string; uid: string };
}

export interface EndpointPort {
  name: string;
  port: number;
  protocol: Protocol;
  appProtocol?: string;
}

export interface EndpointSlice {
  apiVersion: "discovery.k8s.io/v1";
  kind: "EndpointSlice";
  metadata: ObjectMeta & { namespace: string; labels: Record<string, string> };
  addressType: AddressType;
  endpoints: Endpoint[];
  ports: EndpointPort[];
}

export interface CoreCiliumEndpoint {
  name: string;
  id: number;
  networking: { addressing: Array<{ ipv4?: string; ipv6?: string }>; node?: string };
  "named-ports"?: ContainerNamedPort[];
}

export interface CiliumEndpointSlice {
  apiVersion: "cilium.io/v2alpha1";
  kind: "CiliumEndpointSlice";
  metadata: ObjectMeta;
  namespace: string;
  endpoints: CoreCiliumEndpoint[];
}

export interface CiliumIdentity {
  apiVersion: "cilium.io/v2";
  kind: "CiliumIdentity";
  metadata: ObjectMeta & { labels: Record<string, string> };
  /** Cilium stores the identity's labels as "source:key" -> value. */
  "security-labels": Record<string, string>;
}
