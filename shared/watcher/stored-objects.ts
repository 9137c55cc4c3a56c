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
import { zoneViewDigest } from "#shared/fanout/slice-delta.ts";
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
  endpoints: readonly EndpointEntry[];

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
    this.endpoints = endpoints;
  }

  /** The digest a zone-view patch names as its base (the copy of a zone watcher is its zone view). */
  zoneViewDigest(): string {
    return zoneViewDigest({
      metadata: { labels: this.labels },
      addressType: this.addressType,
      ports: this.ports,
      endpoints: this.endpoints.map((entry) => entry.toEndpoint()),
    });
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
      endpoints: this.endpoints.map((entry) => entry.toEndpoint()),
      ports: this.ports.map((port) => ({ ...port })),
    };
  }
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
