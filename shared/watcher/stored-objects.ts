/**
 * How a watcher holds each object: flat, shared items (compact-items.ts) with the fields it needs
 * to rebuild the object exactly, and the zone-view digest a zone patch names as its base.
 */

import type {
  CiliumEndpointSlice,
  CiliumIdentity,
  EndpointPort,
  EndpointSlice,
  ObjectMeta,
} from "#shared/core/model.ts";
import {
  endpointViewText,
  ViewSum,
  viewHeaderText,
  viewLabelsText,
  viewPortsText,
  zoneViewDigestOf,
} from "#shared/fanout/zone-view-sum.ts";
import {
  type CiliumEntry,
  type EndpointEntry,
  shareEndpointPorts,
  shareLabels,
  shareString,
} from "./compact-items.ts";
import { serviceKeyOf } from "./watcher-snapshot.ts";

export class StoredEndpointSlice {
  readonly name: string;
  readonly namespace: string;
  resourceVersion: string;
  readonly service: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly addressType: EndpointSlice["addressType"];
  readonly ports: readonly EndpointPort[];
  /** metadata besides name, namespace, labels and version (creationTimestamp, ownerReferences). */
  readonly meta: Partial<ObjectMeta> | undefined;
  #endpoints: readonly EndpointEntry[];
  /** zoneViewSum's running sum, from the first time a patch asks for it (zone-only watchers). */
  #viewSum: ViewSum | undefined;

  constructor(slice: EndpointSlice, resourceVersion: string, endpoints: readonly EndpointEntry[]) {
    const { name, namespace, labels, resourceVersion: _rv, ...meta } = slice.metadata;
    this.name = name;
    this.namespace = shareString(namespace);
    this.resourceVersion = resourceVersion;
    this.labels = shareLabels(labels ?? {});
    this.service = shareString(serviceKeyOf(namespace, labels));
    this.addressType = slice.addressType;
    this.ports = shareEndpointPorts(slice.ports ?? []);
    this.meta = Object.keys(meta).length === 0 ? undefined : meta;
    this.#endpoints = endpoints;
  }

  get endpoints(): readonly EndpointEntry[] {
    return this.#endpoints;
  }

  /** A patch's outcome (patch-items.ts): the new items, and which went and came, for the running sum. */
  replaceEndpoints(
    endpoints: readonly EndpointEntry[],
    displaced: readonly EndpointEntry[],
    upserted: readonly EndpointEntry[],
  ): void {
    this.#endpoints = endpoints;
    const sum = this.#viewSum;
    if (sum === undefined) return;
    for (const entry of displaced) sum.remove(endpointViewText(entry));
    for (const entry of upserted) sum.add(endpointViewText(entry));
  }

  /** zone-view-sum.ts zoneViewSum of this slice, kept current per patch once asked for. */
  zoneViewSum(): string {
    let sum = this.#viewSum;
    if (sum === undefined) {
      sum = new ViewSum();
      for (const entry of this.#endpoints) sum.add(endpointViewText(entry));
      this.#viewSum = sum;
    }
    return sum.digest(viewHeaderText(this.addressType, labelsPart(this.labels), portsPart(this.ports)));
  }

  /**
   * The earlier digest a zone-view patch names as its base (`baseDigest`; the copy of a zone
   * watcher is its zone view), asked for only when a fan-out from before `baseViewSum` sends no sum:
   * zone-view-sum.ts zoneViewDigest of this slice, computed from the flat items without rebuilding
   * them. The same text, so the same digest: the labels' and ports' parts are computed once per
   * shared (interned) labels or ports object.
   */
  zoneViewDigest(): string {
    return zoneViewDigestOf(
      this.addressType,
      labelsPart(this.labels),
      portsPart(this.ports),
      this.#endpoints,
    );
  }

  toObject(): EndpointSlice {
    return {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        ...this.meta,
        name: this.name,
        namespace: this.namespace,
        labels: { ...this.labels },
        resourceVersion: this.resourceVersion,
      },
      addressType: this.addressType,
      endpoints: this.#endpoints.map((entry) => entry.toEndpoint()),
      ports: this.ports.map((port) => ({ ...port })),
    };
  }
}

const labelsParts = new WeakMap<object, string>();
const portsParts = new WeakMap<object, string>();

function labelsPart(labels: Readonly<Record<string, string>>): string {
  let part = labelsParts.get(labels);
  if (part === undefined) {
    part = viewLabelsText(labels);
    labelsParts.set(labels, part);
  }
  return part;
}

function portsPart(ports: readonly EndpointPort[]): string {
  let part = portsParts.get(ports);
  if (part === undefined) {
    part = viewPortsText(ports);
    portsParts.set(ports, part);
  }
  return part;
}

export class StoredCiliumSlice {
  readonly name: string;
  readonly namespace: string;
  resourceVersion: string;
  readonly meta: Partial<ObjectMeta> | undefined;
  entries: readonly CiliumEntry[];

  constructor(slice: CiliumEndpointSlice, resourceVersion: string, entries: readonly CiliumEntry[]) {
    const { name, resourceVersion: _rv, ...meta } = slice.metadata;
    this.name = name;
    this.namespace = shareString(slice.namespace);
    this.resourceVersion = resourceVersion;
    this.meta = Object.keys(meta).length === 0 ? undefined : meta;
    this.entries = entries;
  }

  toObject(): CiliumEndpointSlice {
    return {
      apiVersion: "cilium.io/v2alpha1",
      kind: "CiliumEndpointSlice",
      metadata: { ...this.meta, name: this.name, resourceVersion: this.resourceVersion },
      namespace: this.namespace,
      endpoints: this.entries.map((entry) => entry.toCoreEndpoint()),
    };
  }
}

export interface StoredIdentity {
  readonly resourceVersion: string;
  readonly id: number;
  readonly object: CiliumIdentity;
}
