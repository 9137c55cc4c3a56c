/**
 * How a watcher holds slice items between changes. The Kubernetes shape of an EndpointSlice endpoint
 * is four objects (endpoint, addresses array, conditions, targetRef) and of a CES entry four more
 * (entry, networking, addressing array, address pair); a node agent holding 100k of each would spend
 * most of its memory on object headers. Each item is kept as one flat object instead, with its
 * low-cardinality strings (namespace, node, zone, node IP) and port lists shared, and is turned
 * back into the Kubernetes shape only when asked for (patch replay keeps the flat form).
 */
import { InternPool } from "#shared/core/intern-pool.ts";
import type { ContainerNamedPort, CoreCiliumEndpoint, Endpoint, EndpointPort } from "#shared/core/model.ts";

/**
 * InternPool's rule (one instance per distinct value, starting over past its capacity), with the
 * instance built only for a value not seen yet: a fleet's agents share each port list and label
 * set, and every CES entry a patch upserts asks for its named ports again.
 */
class SharedValues<T> {
  readonly #values = new Map<string, T>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  share(key: string, make: () => T): T {
    const shared = this.#values.get(key);
    if (shared !== undefined) return shared;
    if (this.#values.size >= this.#capacity) this.#values.clear();
    const value = make();
    this.#values.set(key, value);
    return value;
  }
}

/** Shared by every cache in the process: a fleet simulator's agents all see the same values. */
const strings = new InternPool<string>(50_000);
const namedPortLists = new SharedValues<readonly ContainerNamedPort[]>(20_000);
const endpointPortLists = new SharedValues<readonly EndpointPort[]>(20_000);
const labelSets = new SharedValues<Readonly<Record<string, string>>>(20_000);

export function shareString(value: string): string;
export function shareString(value: string | undefined): string | undefined;
export function shareString(value: string | undefined): string | undefined {
  return value === undefined ? undefined : strings.intern(value, value);
}

export function shareEndpointPorts(ports: readonly EndpointPort[]): readonly EndpointPort[] {
  return endpointPortLists.share(JSON.stringify(ports), () =>
    Object.freeze(ports.map((p) => Object.freeze(p))),
  );
}

export function shareLabels(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  return labelSets.share(JSON.stringify(labels), () => Object.freeze({ ...labels }));
}

function shareNamedPorts(ports: readonly ContainerNamedPort[]): readonly ContainerNamedPort[] {
  return namedPortLists.share(JSON.stringify(ports), () => Object.freeze(ports.map((p) => Object.freeze(p))));
}

const READY = 1;
const SERVING = 2;
const TERMINATING = 4;

/** One EndpointSlice endpoint, flat. `addresses` is the lone address itself in the usual case. */
export class EndpointEntry {
  readonly uid: string;
  readonly pod: string;
  readonly podNamespace: string;
  readonly addresses: string | readonly string[];
  readonly flags: number;
  readonly node: string | undefined;
  readonly zone: string | undefined;

  constructor(endpoint: Endpoint) {
    const { addresses, conditions, targetRef } = endpoint;
    this.uid = targetRef.uid;
    this.pod = targetRef.name;
    this.podNamespace = shareString(targetRef.namespace);
    this.addresses = addresses.length === 1 ? (addresses[0] as string) : Object.freeze([...addresses]);
    this.flags =
      (conditions.ready ? READY : 0) |
      (conditions.serving ? SERVING : 0) |
      (conditions.terminating ? TERMINATING : 0);
    this.node = shareString(endpoint.nodeName);
    this.zone = shareString(endpoint.zone);
  }

  get ready(): boolean {
    return (this.flags & READY) !== 0;
  }
  get serving(): boolean {
    return (this.flags & SERVING) !== 0;
  }
  get terminating(): boolean {
    return (this.flags & TERMINATING) !== 0;
  }

  addressList(): readonly string[] {
    return typeof this.addresses === "string" ? [this.addresses] : this.addresses;
  }

  /** A fresh Endpoint the caller owns. */
  toEndpoint(): Endpoint {
    const endpoint: Endpoint = {
      addresses: [...this.addressList()],
      conditions: { ready: this.ready, serving: this.serving, terminating: this.terminating },
      targetRef: { kind: "Pod", namespace: this.podNamespace, name: this.pod, uid: this.uid },
    };
    if (this.node !== undefined) endpoint.nodeName = this.node;
    if (this.zone !== undefined) endpoint.zone = this.zone;
    return endpoint;
  }
}

/**
 * One CES entry, flat, with its slice's namespace (so the IPCache can point at it directly). The
 * usual addressing (one pair, ipv4 then ipv6) lives in ipv4/ipv6; anything else is kept as given.
 */
export class CiliumEntry {
  readonly name: string;
  readonly namespace: string;
  readonly id: number;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly otherAddressing: ReadonlyArray<{ ipv4?: string; ipv6?: string }> | undefined;
  /** The node's IP (CES entries carry no node name). */
  readonly node: string | undefined;
  readonly namedPorts: readonly ContainerNamedPort[] | undefined;

  constructor(entry: CoreCiliumEndpoint, namespace: string) {
    this.name = entry.name;
    this.namespace = shareString(namespace);
    this.id = entry.id;
    const pairs = entry.networking.addressing;
    const pair = pairs.length === 1 ? pairs[0] : undefined;
    if (pair !== undefined && isPlainPair(pair)) {
      this.ipv4 = pair.ipv4;
      this.ipv6 = pair.ipv6;
      this.otherAddressing = undefined;
    } else {
      this.ipv4 = undefined;
      this.ipv6 = undefined;
      this.otherAddressing = Object.freeze(pairs.map((p) => Object.freeze({ ...p })));
    }
    this.node = shareString(entry.networking.node);
    const ports = entry["named-ports"];
    this.namedPorts = ports === undefined ? undefined : shareNamedPorts(ports);
  }

  /** Every IP the entry claims, each once. */
  ips(): string[] {
    if (this.otherAddressing === undefined) {
      const ips: string[] = [];
      if (this.ipv4 !== undefined) ips.push(this.ipv4);
      if (this.ipv6 !== undefined) ips.push(this.ipv6);
      return ips;
    }
    return ipsOfAddressing(this.otherAddressing);
  }

  /** A fresh CoreCiliumEndpoint the caller owns. */
  toCoreEndpoint(): CoreCiliumEndpoint {
    const addressing =
      this.otherAddressing === undefined
        ? [plainPair(this.ipv4, this.ipv6)]
        : this.otherAddressing.map((pair) => ({ ...pair }));
    const endpoint: CoreCiliumEndpoint = { name: this.name, id: this.id, networking: { addressing } };
    if (this.node !== undefined) endpoint.networking.node = this.node;
    if (this.namedPorts !== undefined) endpoint["named-ports"] = this.namedPorts.map((port) => ({ ...port }));
    return endpoint;
  }
}

export function ipsOfAddressing(pairs: ReadonlyArray<{ ipv4?: string; ipv6?: string }>): string[] {
  const ips = new Set<string>();
  for (const pair of pairs) {
    if (pair.ipv4 !== undefined) ips.add(pair.ipv4);
    if (pair.ipv6 !== undefined) ips.add(pair.ipv6);
  }
  return [...ips];
}

/** Rebuilding {ipv4, ipv6} from two fields gives back the same pair only for these shapes. */
function isPlainPair(pair: { ipv4?: unknown; ipv6?: unknown }): pair is { ipv4?: string; ipv6?: string } {
  const keys = Object.keys(pair);
  if (keys.length === 1)
    return (
      (keys[0] === "ipv4" && typeof pair.ipv4 === "string") ||
      (keys[0] === "ipv6" && typeof pair.ipv6 === "string")
    );
  return (
    keys.length === 2 &&
    keys[0] === "ipv4" &&
    keys[1] === "ipv6" &&
    typeof pair.ipv4 === "string" &&
    typeof pair.ipv6 === "string"
  );
}

function plainPair(ipv4: string | undefined, ipv6: string | undefined): { ipv4?: string; ipv6?: string } {
  if (ipv4 === undefined) return ipv6 === undefined ? {} : { ipv6 };
  return ipv6 === undefined ? { ipv4 } : { ipv4, ipv6 };
}
