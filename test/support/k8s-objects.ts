/**
 * Builders of Kubernetes watch objects as a real API server would emit them, for tests,
 * the demo and the benchmark traces.
 */

export interface PodSpecInput {
  namespace: string;
  name: string;
  resourceVersion: number | string;
  labels?: Record<string, string>;
  uid?: string;
  nodeName?: string;
  podIP?: string;
  podIPs?: string[];
  hostIP?: string;
  phase?: string;
  ready?: boolean;
  deleting?: boolean;
  hostNetwork?: boolean;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  annotations?: Record<string, string>;
}

export function podObject(input: PodSpecInput): Record<string, unknown> {
  const podIPs = input.podIPs ?? (input.podIP ? [input.podIP] : []);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      namespace: input.namespace,
      name: input.name,
      uid: input.uid ?? `uid-${input.namespace}-${input.name}`,
      resourceVersion: String(input.resourceVersion),
      labels: input.labels ?? {},
      annotations: input.annotations ?? {},
      ...(input.deleting ? { deletionTimestamp: "2026-11-25T12:00:00Z" } : {}),
    },
    spec: {
      nodeName: input.nodeName,
      hostNetwork: input.hostNetwork ?? false,
      containers: [{ name: "main", image: "registry.example/app:1", ports: input.ports ?? [] }],
    },
    status: {
      phase: input.phase ?? (podIPs.length > 0 ? "Running" : "Pending"),
      ...(podIPs[0] ? { podIP: podIPs[0] } : {}),
      podIPs: podIPs.map((ip) => ({ ip })),
      ...(input.hostIP ? { hostIP: input.hostIP } : {}),
      conditions: [{ type: "Ready", status: input.ready ? "True" : "False" }],
    },
  };
}

export interface ServiceSpecInput {
  namespace: string;
  name: string;
  resourceVersion: number | string;
  selector?: Record<string, string> | undefined;
  ports?: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }>;
  clusterIP?: string;
  ipFamilies?: string[];
  type?: string;
  publishNotReadyAddresses?: boolean;
  labels?: Record<string, string>;
}

export function serviceObject(input: ServiceSpecInput): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      namespace: input.namespace,
      name: input.name,
      uid: `uid-svc-${input.namespace}-${input.name}`,
      resourceVersion: String(input.resourceVersion),
      labels: input.labels ?? {},
    },
    spec: {
      ...(input.selector ? { selector: input.selector } : {}),
      ports: input.ports ?? [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
      clusterIP: input.clusterIP ?? "10.96.0.10",
      ...(input.ipFamilies ? { ipFamilies: input.ipFamilies } : {}),
      type: input.type ?? "ClusterIP",
      ...(input.publishNotReadyAddresses ? { publishNotReadyAddresses: true } : {}),
    },
  };
}

export function namespaceObject(
  name: string,
  resourceVersion: number | string,
  labels: Record<string, string> = {},
) {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, uid: `uid-ns-${name}`, resourceVersion: String(resourceVersion), labels },
  };
}

export function nodeObject(
  name: string,
  resourceVersion: number | string,
  zone: string | undefined,
  internalIP: string,
  heartbeat = "2026-11-25T12:00:00Z",
) {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: `uid-node-${name}`,
      resourceVersion: String(resourceVersion),
      labels: zone ? { "topology.kubernetes.io/zone": zone, "kubernetes.io/hostname": name } : {},
    },
    status: {
      addresses: [
        { type: "InternalIP", address: internalIP },
        { type: "Hostname", address: name },
      ],
      conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: heartbeat }],
    },
  };
}

export function watchEvent(type: "ADDED" | "MODIFIED" | "DELETED", object: unknown) {
  return { type, object };
}
