/**
 * Small EndpointSlices, CiliumEndpointSlices and identities in the shapes the API serves, for the
 * watcher tests.
 */
import type {
  CiliumEndpointSlice,
  CiliumIdentity,
  CoreCiliumEndpoint,
  Endpoint,
  EndpointSlice,
} from "#shared/core/model.ts";

export interface EndpointSpec {
  readonly pod: string;
  readonly ip: string;
  readonly ready?: boolean;
  readonly terminating?: boolean;
  readonly node?: string;
  readonly zone?: string;
  /** A second address (dual-stack slices carry one family each; this is for odd shapes). */
  readonly extraIp?: string;
}

export function endpoint(namespace: string, spec: EndpointSpec): Endpoint {
  const ready = spec.ready ?? true;
  const terminating = spec.terminating ?? false;
  const result: Endpoint = {
    addresses: spec.extraIp === undefined ? [spec.ip] : [spec.ip, spec.extraIp],
    conditions: { ready: ready && !terminating, serving: ready, terminating },
    targetRef: { kind: "Pod", namespace, name: spec.pod, uid: `uid-${namespace}-${spec.pod}` },
  };
  if (spec.node !== undefined) result.nodeName = spec.node;
  if (spec.zone !== undefined) result.zone = spec.zone;
  return result;
}

export function endpointSlice(
  namespace: string,
  name: string,
  service: string,
  resourceVersion: number,
  endpoints: readonly Endpoint[],
  port = 8080,
): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace,
      labels: {
        "kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "sliceline",
      },
      resourceVersion: String(resourceVersion),
      creationTimestamp: "2026-01-01T00:00:00Z",
    },
    addressType: "IPv4",
    endpoints: [...endpoints],
    ports: [{ name: "http", port, protocol: "TCP" }],
  };
}

export function ciliumEndpoint(
  name: string,
  id: number,
  ipv4: string,
  nodeIP = "192.168.0.1",
): CoreCiliumEndpoint {
  return {
    name,
    id,
    networking: { addressing: [{ ipv4 }], node: nodeIP },
    "named-ports": [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

export function ciliumSlice(
  name: string,
  namespace: string,
  resourceVersion: number,
  endpoints: readonly CoreCiliumEndpoint[],
): CiliumEndpointSlice {
  return {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: { name, resourceVersion: String(resourceVersion) },
    namespace,
    endpoints: [...endpoints],
  };
}

export function identity(
  id: number,
  resourceVersion: number,
  labels: Record<string, string>,
): CiliumIdentity {
  const securityLabels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [`k8s:${k}`, v]));
  return {
    apiVersion: "cilium.io/v2",
    kind: "CiliumIdentity",
    metadata: { name: String(id), labels: { ...labels }, resourceVersion: String(resourceVersion) },
    "security-labels": securityLabels,
  };
}
