/**
 * A watcher's derived state in canonical form: the IPCache and the Service backends as sorted text
 * lines, and their digest. Two watchers (or a watcher and the API's lists) agree exactly when their
 * digests do, whatever order the changes arrived in and however the slices are packed.
 *
 * `snapshotFromObjects` recomputes the same thing from scratch from whole objects, independently of
 * the cache's incremental structures: it is the truth a watcher is compared with.
 */
import { createHash } from "node:crypto";
import type {
  CiliumEndpointSlice,
  CiliumIdentity,
  ContainerNamedPort,
  EndpointPort,
  EndpointSlice,
} from "#shared/core/model.ts";

export interface WatcherSnapshot {
  /** `<ip> <entry>`, one line per IP, sorted. */
  readonly ipcache: readonly string[];
  /** `<namespace>/<service> <endpoint address>`, one line per address, sorted (duplicates kept). */
  readonly backends: readonly string[];
}

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export function serviceKeyOf(
  namespace: string,
  labels: Readonly<Record<string, string>> | undefined,
): string {
  return `${namespace}/${labels?.[SERVICE_NAME_LABEL] ?? ""}`;
}

/** Identity labels, sorted; "?" when the identity is not (yet) known to the watcher. */
export function identityLabelsText(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return "?";
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(",");
}

export function ipcacheEntryText(
  id: number,
  labels: string,
  node: string | undefined,
  namespace: string,
  pod: string,
  namedPorts: readonly ContainerNamedPort[] | undefined,
): string {
  const ports = (namedPorts ?? []).map((p) => `${p.name}:${p.port}/${p.protocol}`).join(",");
  return `id=${id} labels=${labels} node=${node ?? "-"} pod=${namespace}/${pod} ports=${ports}`;
}

/** Several entries claiming one IP (a reused IP during a handover): the smallest text wins, everywhere. */
export function pickClaim(texts: readonly string[]): string {
  let best = texts[0] as string;
  for (const text of texts) if (text < best) best = text;
  return best;
}

export function portsText(ports: readonly EndpointPort[]): string {
  return ports
    .map((p) => `${p.name}:${p.port}/${p.protocol}${p.appProtocol === undefined ? "" : `(${p.appProtocol})`}`)
    .sort()
    .join(",");
}

export function backendText(
  addressType: string,
  address: string,
  ready: boolean,
  serving: boolean,
  terminating: boolean,
  node: string | undefined,
  zone: string | undefined,
  podNamespace: string,
  pod: string,
  ports: string,
): string {
  const conditions = `${ready ? "R" : "-"}${serving ? "S" : "-"}${terminating ? "T" : "-"}`;
  return `${addressType} ${address} ${conditions} node=${node ?? "-"} zone=${zone ?? "-"} pod=${podNamespace}/${pod} ports=${ports}`;
}

export function snapshotDigest(snapshot: WatcherSnapshot): string {
  const hash = createHash("sha256");
  for (const line of snapshot.ipcache) hash.update(line).update("\n");
  hash.update("--\n");
  for (const line of snapshot.backends) hash.update(line).update("\n");
  return hash.digest("hex");
}

export interface ObjectsToSnapshot {
  readonly endpointSlices?: readonly EndpointSlice[];
  readonly ciliumEndpointSlices?: readonly CiliumEndpointSlice[];
  readonly identities?: readonly CiliumIdentity[];
  /** A zone-only watcher's truth: only the endpoints of this zone. */
  readonly zone?: string | undefined;
}

export function snapshotFromObjects(objects: ObjectsToSnapshot): WatcherSnapshot {
  const labelsById = new Map<number, Readonly<Record<string, string>>>();
  for (const identity of objects.identities ?? [])
    labelsById.set(Number(identity.metadata.name), identity["security-labels"]);
  const claims = new Map<string, string[]>();
  for (const slice of objects.ciliumEndpointSlices ?? []) {
    for (const entry of slice.endpoints) {
      const text = ipcacheEntryText(
        entry.id,
        identityLabelsText(labelsById.get(entry.id)),
        entry.networking.node,
        slice.namespace,
        entry.name,
        entry["named-ports"],
      );
      const ips = new Set<string>();
      for (const pair of entry.networking.addressing) {
        if (pair.ipv4 !== undefined) ips.add(pair.ipv4);
        if (pair.ipv6 !== undefined) ips.add(pair.ipv6);
      }
      for (const ip of ips) {
        const list = claims.get(ip);
        if (list === undefined) claims.set(ip, [text]);
        else list.push(text);
      }
    }
  }
  const ipcache = [...claims].map(([ip, texts]) => `${ip} ${pickClaim(texts)}`).sort();
  const backends: string[] = [];
  for (const slice of objects.endpointSlices ?? []) {
    const service = serviceKeyOf(slice.metadata.namespace, slice.metadata.labels);
    const ports = portsText(slice.ports);
    for (const endpoint of slice.endpoints) {
      if (objects.zone !== undefined && endpoint.zone !== objects.zone) continue;
      for (const address of endpoint.addresses) {
        const { ready, serving, terminating } = endpoint.conditions;
        const text = backendText(
          slice.addressType,
          address,
          ready,
          serving,
          terminating,
          endpoint.nodeName,
          endpoint.zone,
          endpoint.targetRef.namespace,
          endpoint.targetRef.name,
          ports,
        );
        backends.push(`${service} ${text}`);
      }
    }
  }
  backends.sort();
  return { ipcache, backends };
}
