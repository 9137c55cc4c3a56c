/**
 * What Cilium's agents write to etcd in kvstore mode, derived from the trace's Pod and Namespace
 * events: the per-endpoint IP -> identity keys every agent watches, and the identity allocator's
 * keys. Pure (no etcd): the peer turns the returned operations into etcd requests.
 *
 * Layout and values follow cilium/cilium:
 * - pkg/ipcache/kvstore.go: IPIdentitiesPath = JoinKey(BaseKeyPrefix "cilium", "state", "ip", "v1"),
 *   key JoinKey(IPIdentitiesPath, AddressSpace "default", ip), value json.Marshal(IPIdentityPair),
 *   written with UpdateIfDifferent(..., lease=true): an unchanged value is not rewritten.
 * - pkg/identity: IPIdentityPair {IP, Mask, HostIP, ID, Key, Metadata, K8sNamespace omitempty,
 *   K8sPodName omitempty, K8sServiceAccount omitempty, NamedPorts omitempty} ("STABLE API").
 * - pkg/kvstore/allocator: master key <base>/id/<id> => the label key, and one value key
 *   <base>/value/<key>/<node suffix> => id per node using the identity (under a lease), base
 *   cilium/state/identities/v1.
 *
 * Identity ids come from our IdentityAllocator over the pod's security labels (the real label
 * filter), not Cilium's random pick among free ids; the id is only a number in the value.
 */
import { IdentityAllocator } from "#shared/core/identity/identity-allocator.ts";
import { labelSetKey, securityLabels } from "#shared/core/identity/security-labels.ts";
import type { NamespaceRecord, PodRecord } from "#shared/core/model.ts";
import { toNamespaceRecord, toPodRecord } from "#shared/core/records.ts";
import type { NamespaceObject, PodObject } from "#shared/k8s/watch-event-schema.ts";

export const IP_IDENTITY_PREFIX = "cilium/state/ip/v1/default/";
export const IDENTITY_ID_PREFIX = "cilium/state/identities/v1/id/";
export const IDENTITY_VALUE_PREFIX = "cilium/state/identities/v1/value/";

export interface KvPut {
  readonly kind: "put";
  readonly key: string;
  readonly value: string;
}

export interface KvDelete {
  readonly kind: "delete";
  readonly key: string;
}

export type KvOp = KvPut | KvDelete;

export interface WatchEventLike {
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly object: Record<string, unknown>;
}

interface Endpoint {
  readonly pod: PodRecord;
  readonly identity: number;
  readonly labelKey: string;
  /** IP key -> value currently written for this endpoint. */
  readonly keys: ReadonlyMap<string, string>;
}

export interface IpIdentityPairInput {
  readonly ip: string;
  readonly hostIP: string | undefined;
  readonly identity: number;
  readonly namespace: string;
  readonly podName: string;
  readonly namedPorts: PodRecord["namedPorts"];
}

/** json.Marshal(IPIdentityPair) byte for byte: Go's field order, null Mask, omitempty fields left out. */
export function ipIdentityPairJson(input: IpIdentityPairInput): string {
  const pair: Record<string, unknown> = {
    IP: input.ip,
    Mask: null,
    HostIP: input.hostIP ?? null,
    ID: input.identity,
    Key: 0,
    Metadata: "",
  };
  if (input.namespace !== "") pair.K8sNamespace = input.namespace;
  if (input.podName !== "") pair.K8sPodName = input.podName;
  // Sorted by name, as IPIdentitySynchronizer.Upsert sorts them.
  const ports = [...input.namedPorts]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => ({ Name: p.name, Port: p.port, Protocol: p.protocol }));
  if (ports.length > 0) pair.NamedPorts = ports;
  return JSON.stringify(pair);
}

/** Cilium's allocator key for an identity: labels.SortedList(), `source:key=value;` per label. */
export function identityLabelKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]};`)
    .join("");
}

/** Whether the agent has an endpoint (and so IP keys) for the pod: a sandbox with an IP, not host network. */
function hasEndpoint(pod: PodRecord): boolean {
  return !pod.hostNetwork && pod.podIPs.length > 0 && pod.phase !== "Succeeded" && pod.phase !== "Failed";
}

export class CiliumKvstoreModel {
  readonly #namespaces = new Map<string, NamespaceRecord>();
  readonly #endpoints = new Map<string, Endpoint>();
  /** What etcd holds under IP_IDENTITY_PREFIX after the operations returned so far. */
  readonly #ipKeys = new Map<string, string>();
  readonly #allocator = new IdentityAllocator();
  readonly #mastersWritten = new Set<number>();
  /** "<node>|<id>" -> endpoints on that node using the identity (the node's value key lives while > 0). */
  readonly #nodeRefs = new Map<string, number>();
  #nowMs = 0;

  /** IP key -> IPIdentityPair JSON: the truth every watcher's cache must equal. */
  get ipKeys(): ReadonlyMap<string, string> {
    return this.#ipKeys;
  }

  apply(event: WatchEventLike, nowMs: number): KvOp[] {
    this.#nowMs = nowMs;
    const kind = event.object.kind;
    if (kind === "Pod") return this.#applyPod(event);
    if (kind === "Namespace") return this.#applyNamespace(event);
    return [];
  }

  #applyPod(event: WatchEventLike): KvOp[] {
    const pod = toPodRecord(event.object as unknown as PodObject);
    const podKey = `${pod.namespace}/${pod.name}`;
    const wanted = event.type !== "DELETED" && hasEndpoint(pod) ? pod : undefined;
    return this.#reconcile(podKey, wanted);
  }

  #applyNamespace(event: WatchEventLike): KvOp[] {
    const namespace = toNamespaceRecord(event.object as unknown as NamespaceObject);
    if (event.type === "DELETED") this.#namespaces.delete(namespace.name);
    else this.#namespaces.set(namespace.name, namespace);
    // Namespace labels are part of every endpoint's identity: each agent re-resolves its endpoints.
    const ops: KvOp[] = [];
    for (const [podKey, endpoint] of [...this.#endpoints]) {
      if (endpoint.pod.namespace === namespace.name) ops.push(...this.#reconcile(podKey, endpoint.pod));
    }
    return ops;
  }

  #reconcile(podKey: string, pod: PodRecord | undefined): KvOp[] {
    const ops: KvOp[] = [];
    const old = this.#endpoints.get(podKey);
    const next = pod === undefined ? undefined : this.#endpointFor(pod, old, ops);
    for (const [key, value] of next?.keys ?? []) {
      if (this.#ipKeys.get(key) === value) continue; // UpdateIfDifferent
      this.#ipKeys.set(key, value);
      ops.push({ kind: "put", key, value });
    }
    for (const key of old?.keys.keys() ?? []) {
      if (next?.keys.has(key) || !this.#ipKeys.has(key)) continue;
      this.#ipKeys.delete(key);
      ops.push({ kind: "delete", key });
    }
    if (old !== undefined && (next === undefined || next.identity !== old.identity)) {
      this.#releaseIdentity(old, ops);
    }
    if (next === undefined) this.#endpoints.delete(podKey);
    else this.#endpoints.set(podKey, next);
    return ops;
  }

  #endpointFor(pod: PodRecord, old: Endpoint | undefined, ops: KvOp[]): Endpoint {
    const labels = securityLabels(pod, this.#namespaces.get(pod.namespace));
    const labelKey = labelSetKey(labels);
    const sameIdentity = old !== undefined && old.labelKey === labelKey && old.pod.nodeName === pod.nodeName;
    const identity = sameIdentity ? old.identity : this.#acquireIdentity(labels, pod, ops);
    const keys = new Map<string, string>();
    for (const ip of pod.podIPs) {
      const value = ipIdentityPairJson({
        ip,
        hostIP: pod.hostIP,
        identity,
        namespace: pod.namespace,
        podName: pod.name,
        namedPorts: pod.namedPorts,
      });
      keys.set(IP_IDENTITY_PREFIX + ip, value);
    }
    return { pod, identity, labelKey, keys };
  }

  #acquireIdentity(labels: Readonly<Record<string, string>>, pod: PodRecord, ops: KvOp[]): number {
    const { id } = this.#allocator.acquire(labels, this.#nowMs);
    const key = identityLabelKey(labels);
    if (!this.#mastersWritten.has(id)) {
      this.#mastersWritten.add(id);
      ops.push({ kind: "put", key: IDENTITY_ID_PREFIX + id, value: key });
    }
    const ref = `${pod.nodeName ?? ""}|${id}`;
    const count = this.#nodeRefs.get(ref) ?? 0;
    this.#nodeRefs.set(ref, count + 1);
    if (count === 0) ops.push({ kind: "put", key: this.#valueKey(key, pod), value: String(id) });
    return id;
  }

  #releaseIdentity(endpoint: Endpoint, ops: KvOp[]): void {
    this.#allocator.release(endpoint.identity, this.#nowMs);
    const ref = `${endpoint.pod.nodeName ?? ""}|${endpoint.identity}`;
    const count = (this.#nodeRefs.get(ref) ?? 1) - 1;
    if (count > 0) {
      this.#nodeRefs.set(ref, count);
      return;
    }
    this.#nodeRefs.delete(ref);
    const labels = this.#allocator.get(endpoint.identity)?.labels ?? {};
    ops.push({ kind: "delete", key: this.#valueKey(identityLabelKey(labels), endpoint.pod) });
    // Master keys stay: Cilium's allocator GC removes them minutes later, outside any run here.
  }

  /** The node suffix is the node's IP (the agent's GetNodeSuffix); the pod's hostIP is that IP. */
  #valueKey(labelKey: string, pod: PodRecord): string {
    return `${IDENTITY_VALUE_PREFIX}${labelKey}/${pod.hostIP ?? pod.nodeName ?? ""}`;
  }
}
