/**
 * The simple reference model: what sliceline must publish, computed from scratch from the final
 * objects of a simulated cluster, with the Kubernetes and Cilium rules written out plainly and
 * no incremental state at all. Property tests compare the engine's stored outputs with it.
 */
import type { ClusterSimulator, SimPod, SimService } from "#scripts/sim/cluster-simulator.ts";

export interface ExpectedEndpoint {
  readonly service: string;
  readonly addressType: "IPv4" | "IPv6";
  readonly ports: string;
  readonly pod: string;
  readonly address: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly zone: string | undefined;
}

export function endpointKeyOf(e: ExpectedEndpoint): string {
  return [
    e.service,
    e.addressType,
    e.ports,
    e.pod,
    e.address,
    e.ready,
    e.serving,
    e.terminating,
    e.zone ?? "-",
  ].join("|");
}

/** Canonical port list: order-insensitive. */
export function canonicalPorts(
  ports: ReadonlyArray<{ name?: string; port: number; protocol?: string }>,
): string {
  return JSON.stringify(ports.map((p) => `${p.name ?? ""}/${p.port}/${p.protocol ?? "TCP"}`).sort());
}

export function expectedEndpoints(sim: ClusterSimulator): Set<string> {
  const expected = new Set<string>();
  for (const service of sim.services.values()) {
    if (service.selector === undefined || Object.keys(service.selector).length === 0) continue;
    if (service.type === "ExternalName") continue;
    for (const pod of sim.pods.values()) {
      if (pod.namespace !== service.namespace) continue;
      if (!Object.entries(service.selector).every(([k, v]) => pod.labels[k] === v)) continue;
      if (pod.ip === undefined || pod.phase === "Succeeded" || pod.phase === "Failed") continue;
      const ports = canonicalPorts(resolvePorts(service, pod));
      const serving = pod.ready;
      const terminating = pod.deleting;
      const ready = service.publishNotReadyAddresses || (serving && !terminating);
      const zone = sim.nodes.get(pod.nodeName)?.zone;
      for (const addressType of addressTypes(service)) {
        const address = addressType === "IPv4" ? pod.ip : pod.ipv6;
        if (address === undefined) continue;
        expected.add(
          endpointKeyOf({
            service: `${service.namespace}/${service.name}`,
            addressType,
            ports,
            pod: pod.name,
            address,
            ready,
            serving,
            terminating,
            zone,
          }),
        );
      }
    }
  }
  return expected;
}

function addressTypes(service: SimService): Array<"IPv4" | "IPv6"> {
  if (service.ipFamilies !== undefined && service.ipFamilies.length > 0) return service.ipFamilies as never;
  if (service.clusterIP === "None" || service.clusterIP === "") return ["IPv4", "IPv6"];
  return service.clusterIP.includes(":") ? ["IPv6"] : ["IPv4"];
}

function resolvePorts(
  service: SimService,
  pod: SimPod,
): Array<{ name?: string; port: number; protocol?: string }> {
  const resolved: Array<{ name?: string; port: number; protocol?: string }> = [];
  for (const port of service.ports) {
    const protocol = port.protocol ?? "TCP";
    const target = port.targetPort ?? port.port;
    if (typeof target === "number") {
      resolved.push({ name: port.name ?? "", port: target, protocol });
      continue;
    }
    const container = pod.ports.find((p) => p.name === target && (p.protocol ?? "TCP") === protocol);
    if (container !== undefined)
      resolved.push({ name: port.name ?? "", port: container.containerPort, protocol });
  }
  return resolved;
}

export interface ExpectedCiliumEndpoint {
  readonly namespace: string;
  readonly pod: string;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly node: string | undefined;
}

/** Pods Cilium networks: not hostNetwork, with an IP, not finished. */
export function expectedCiliumEndpoints(sim: ClusterSimulator): Map<string, ExpectedCiliumEndpoint> {
  const expected = new Map<string, ExpectedCiliumEndpoint>();
  for (const pod of sim.pods.values()) {
    if (pod.hostNetwork || pod.ip === undefined || pod.phase === "Succeeded" || pod.phase === "Failed")
      continue;
    expected.set(`${pod.namespace}/${pod.name}`, {
      namespace: pod.namespace,
      pod: pod.name,
      ipv4: pod.ip,
      ipv6: pod.ipv6,
      node: sim.nodes.get(pod.nodeName)?.internalIP,
    });
  }
  return expected;
}

/** The label set Cilium would derive, for the label keys the random traces use. */
export function expectedSecurityLabels(sim: ClusterSimulator, pod: SimPod): string {
  const labels: string[] = [];
  for (const [key, value] of Object.entries(pod.labels)) {
    if (key === "pod-template-hash") continue;
    labels.push(`k8s:${key}=${value}`);
  }
  labels.push(`k8s:io.kubernetes.pod.namespace=${pod.namespace}`);
  for (const [key, value] of Object.entries(sim.namespaces.get(pod.namespace)?.labels ?? {})) {
    labels.push(`k8s:io.cilium.k8s.namespace.labels.${key}=${value}`);
  }
  return labels.sort().join(",");
}
