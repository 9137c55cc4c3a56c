/**
 * The per-endpoint object Cilium publishes without slicing (cilium.io/v2 CiliumEndpoint), built
 * only as the comparison baseline: one such object per pod, each carrying its identity's full label
 * list, is what every node had to receive before CiliumEndpointSlices.
 *
 * Fields the agent would fill from its own state (container id, endpoint id, creation time) are
 * derived deterministically from the pod, with realistic sizes, so byte counts are reproducible.
 */
import { createHash } from "node:crypto";
import { addressPair } from "#shared/core/ciliumendpointslice/core-endpoint.ts";
import type { ContainerNamedPort, PodRecord } from "#shared/core/model.ts";

export interface CiliumEndpoint {
  apiVersion: "cilium.io/v2";
  kind: "CiliumEndpoint";
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation: number;
    creationTimestamp: string;
    labels: Record<string, string>;
    ownerReferences: Array<{ apiVersion: "v1"; kind: "Pod"; name: string; uid: string }>;
  };
  status: {
    id: number;
    identity: { id: number; labels: string[] };
    networking: { addressing: Array<{ ipv4?: string; ipv6?: string }>; node?: string };
    encryption: Record<string, never>;
    "external-identifiers": {
      "container-id": string;
      "k8s-namespace": string;
      "k8s-pod-name": string;
      "pod-name": string;
      "cni-attachment-id": string;
    };
    policy: {
      ingress: { enforcing: boolean; state: string };
      egress: { enforcing: boolean; state: string };
    };
    "visibility-policy-status": string;
    "named-ports"?: ContainerNamedPort[];
    state: "ready";
  };
}

export interface EndpointIdentity {
  readonly id: number;
  /** Security labels as "source:key" -> value. */
  readonly labels: Readonly<Record<string, string>>;
}

const POLICY_DISABLED = "<status disabled>";
/** A fixed instant, so baseline objects serialize identically run to run. */
const BASELINE_CREATION_TIMESTAMP = "2024-01-01T00:00:00Z";

export function ciliumEndpointForPod(pod: PodRecord, identity: EndpointIdentity): CiliumEndpoint {
  const digest = createHash("sha256").update(`${pod.namespace}/${pod.name}/${pod.uid}`).digest();
  const containerId = digest.toString("hex");
  const endpoint: CiliumEndpoint = {
    apiVersion: "cilium.io/v2",
    kind: "CiliumEndpoint",
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      resourceVersion: String(digest.readUInt32BE(0)),
      generation: 1,
      creationTimestamp: BASELINE_CREATION_TIMESTAMP,
      // The agent copies the pod's labels onto its CiliumEndpoint.
      labels: { ...pod.labels },
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid }],
    },
    status: {
      // The agent-local endpoint id: a small number unique per node.
      id: 1 + (digest.readUInt16BE(4) % 4095),
      identity: {
        id: identity.id,
        labels: Object.entries(identity.labels)
          .map(([key, value]) => `${key}=${value}`)
          .sort(),
      },
      networking: { addressing: [addressPair(pod.podIPs)] },
      encryption: {},
      "external-identifiers": {
        "container-id": containerId,
        "k8s-namespace": pod.namespace,
        "k8s-pod-name": pod.name,
        "pod-name": `${pod.namespace}/${pod.name}`,
        "cni-attachment-id": `${containerId}:eth0`,
      },
      policy: {
        ingress: { enforcing: false, state: POLICY_DISABLED },
        egress: { enforcing: false, state: POLICY_DISABLED },
      },
      "visibility-policy-status": POLICY_DISABLED,
      state: "ready",
    },
  };
  if (pod.hostIP !== undefined) endpoint.status.networking.node = pod.hostIP;
  if (pod.namedPorts.length > 0) {
    endpoint.status["named-ports"] = pod.namedPorts.map((p) => ({
      name: p.name,
      port: p.port,
      protocol: p.protocol,
    }));
  }
  return endpoint;
}
