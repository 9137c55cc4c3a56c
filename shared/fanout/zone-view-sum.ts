/**
 * The content digest a zone-view patch names as its base (`baseViewSum`, change-bundle.ts): a hash
 * of the view's header (addressType, labels, ports) plus, lane by lane mod 2^32, one hash per
 * endpoint. A sum rather than a hash of the sorted endpoint list, so that it does not depend on
 * item order and a watcher keeps it current per patch in O(items patched): it takes away the hashes
 * of the items a patch displaces and adds those it upserts. Hashing the whole view again on every
 * patch cost a fleet agent ~16 µs per patch at 33 endpoints, most of its CPU per delivery. The
 * fan-out holds no view between invocations and computes the sum from the items.
 *
 * Not a cryptographic digest: it guards against applying a patch on the wrong copy (a missed or
 * reordered change), and both ends of it are the pipeline's own code. Two lanes of 32 bits make a
 * chance collision between two copies of one slice about 2^-64.
 */
import { createHash } from "node:crypto";
import type { Endpoint, EndpointPort } from "#shared/core/model.ts";

/** What a zone view's digest covers; an EndpointSlice is one. */
export interface ZoneViewContent {
  readonly metadata: { readonly labels?: Readonly<Record<string, string>> | undefined };
  readonly addressType: string;
  readonly ports?: readonly EndpointPort[] | undefined;
  readonly endpoints: readonly Endpoint[];
}

/** The fields of one endpoint that the digest covers, as a watcher's flat entry holds them. */
export interface EndpointViewFields {
  readonly uid: string;
  readonly podNamespace: string;
  readonly pod: string;
  readonly addresses: string | readonly string[];
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly node: string | undefined;
  readonly zone: string | undefined;
}

/** The canonical text of one endpoint, the same from a Kubernetes endpoint and from a flat entry. */
export function endpointViewText(endpoint: EndpointViewFields): string {
  const { addresses } = endpoint;
  return JSON.stringify([
    endpoint.uid,
    endpoint.podNamespace,
    endpoint.pod,
    typeof addresses === "string" ? [addresses] : addresses,
    endpoint.ready,
    endpoint.serving,
    endpoint.terminating,
    endpoint.node ?? null,
    endpoint.zone ?? null,
  ]);
}

export function endpointViewFields(endpoint: Endpoint): EndpointViewFields {
  return {
    uid: endpoint.targetRef.uid,
    podNamespace: endpoint.targetRef.namespace,
    pod: endpoint.targetRef.name,
    addresses: endpoint.addresses,
    ready: endpoint.conditions.ready === true,
    serving: endpoint.conditions.serving === true,
    terminating: endpoint.conditions.terminating === true,
    node: endpoint.nodeName,
    zone: endpoint.zone,
  };
}

/** The header's parts, each a JSON text: labels sorted by key, ports as [name, port, protocol, appProtocol]. */
export function viewLabelsText(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => compareText(a, b)));
}

export function viewPortsText(ports: readonly EndpointPort[]): string {
  return JSON.stringify(ports.map((port) => [port.name, port.port, port.protocol, port.appProtocol ?? null]));
}

export function viewHeaderText(addressType: string, labelsText: string, portsText: string): string {
  return `[${JSON.stringify(addressType)},${labelsText},${portsText}]`;
}

/** A running sum of endpoint hashes: add and take away in any order, read the digest at any time. */
export class ViewSum {
  #low = 0;
  #high = 0;

  add(endpointText: string): void {
    const [low, high] = textHash(endpointText);
    this.#low = (this.#low + low) >>> 0;
    this.#high = (this.#high + high) >>> 0;
  }

  remove(endpointText: string): void {
    const [low, high] = textHash(endpointText);
    this.#low = (this.#low - low) >>> 0;
    this.#high = (this.#high - high) >>> 0;
  }

  digest(headerText: string): string {
    const [low, high] = textHash(headerText);
    return hex8((this.#high + high) >>> 0) + hex8((this.#low + low) >>> 0);
  }
}

/** The sum of a zone view given whole (the fan-out's side). */
export function zoneViewSum(view: ZoneViewContent): string {
  return zoneViewBases(view).baseViewSum;
}

/**
 * The earlier digest (`baseDigest`), for agents from before the sum: SHA-256 over the JSON of
 * [addressType, labels, ports, endpoints sorted by uid], first 16 hex digits. A watcher gives its
 * flat items as they are; `texts` are their endpointViewText, where the caller has them already.
 */
export function zoneViewDigestOf(
  addressType: string,
  labelsText: string,
  portsText: string,
  endpoints: readonly EndpointViewFields[],
  texts: readonly string[] = endpoints.map(endpointViewText),
): string {
  const uidOf = (index: number) => (endpoints[index] as EndpointViewFields).uid;
  const order = endpoints.map((_, index) => index).sort((a, b) => compareText(uidOf(a), uidOf(b)));
  const sorted = order.map((index) => texts[index]).join(",");
  const text = `[${JSON.stringify(addressType)},${labelsText},${portsText},[${sorted}]]`;
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** zoneViewDigestOf a zone view given whole. */
export function zoneViewDigest(view: ZoneViewContent): string {
  return zoneViewBases(view).baseDigest;
}

/**
 * Both bases a zone-view patch names, from one pass over the view's endpoints: the fan-out sends
 * the two while agents from before the sum may still run.
 */
export function zoneViewBases(view: ZoneViewContent): {
  readonly baseViewSum: string;
  readonly baseDigest: string;
} {
  const endpoints = view.endpoints.map(endpointViewFields);
  const texts = endpoints.map(endpointViewText);
  const labelsText = viewLabelsText(view.metadata.labels ?? {});
  const portsText = viewPortsText(view.ports ?? []);
  const sum = new ViewSum();
  for (const text of texts) sum.add(text);
  return {
    baseViewSum: sum.digest(viewHeaderText(view.addressType, labelsText, portsText)),
    baseDigest: zoneViewDigestOf(view.addressType, labelsText, portsText, endpoints, texts),
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Two 32-bit lanes of cyrb53 (bryc, public domain): multiply-xor mixing of UTF-16 code units, well
 * spread for short texts and far cheaper here than a SHA-256 per endpoint.
 */
function textHash(text: string): readonly [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, "0");
}
