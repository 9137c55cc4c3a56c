/**
 * The in-memory form of one managed EndpointSlice, and its conversions to and from the
 * Kubernetes-shaped object. Endpoints live in a Map keyed by identity so that removing or
 * replacing one is O(1) while the slice keeps the order storage has.
 */
import { sortedLabels } from "#shared/core/labels.ts";
import type {
  AddressType,
  Endpoint,
  EndpointPort,
  EndpointSlice,
  ObjectMeta,
  ServiceRecord,
} from "#shared/core/model.ts";
import { portSetKey } from "./desired-endpoints.ts";
import { copyEndpoint, endpointKey, freezeEndpoint } from "./endpoint-identity.ts";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
export const MANAGED_BY_SLICELINE = "sliceline";
export const HEADLESS_LABEL = "service.kubernetes.io/headless";

export type OwnerReference = NonNullable<ObjectMeta["ownerReferences"]>[number];

export interface StoredSlice {
  readonly name: string;
  addressType: AddressType;
  portKey: string;
  /** groupKeyOf(addressType, portKey), kept because it is looked up for every touched slice. */
  groupKey: string;
  ports: EndpointPort[];
  labels: Record<string, string>;
  ownerReferences: OwnerReference[];
  resourceVersion: string | undefined;
  creationTimestamp: string | undefined;
  endpoints: Map<string, Endpoint>;
  /**
   * What storage holds differs from `endpoints` (duplicates dropped, over capacity, empty) when
   * rebuilt from a damaged store: the next reconcile must rewrite it even if no pod of it changed.
   */
  dirty: boolean;
}

export function groupKeyOf(addressType: AddressType, portKey: string): string {
  return `${addressType}\n${portKey}`;
}

export function sliceGroupKey(slice: {
  readonly addressType: AddressType;
  readonly portKey: string;
}): string {
  return groupKeyOf(slice.addressType, slice.portKey);
}

/** Is this stored object one sliceline manages for the given Service? Others are never touched. */
export function isManagedSliceOf(slice: EndpointSlice, namespace: string, serviceName: string): boolean {
  return (
    slice.metadata.namespace === namespace &&
    slice.metadata.labels[SERVICE_NAME_LABEL] === serviceName &&
    slice.metadata.labels[MANAGED_BY_LABEL] === MANAGED_BY_SLICELINE
  );
}

/**
 * The Service's own labels mirrored onto its slices (as the controller does), plus the reserved
 * ones: which Service, who manages it, and whether the Service is headless.
 */
export function sliceLabelsFor(service: ServiceRecord): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.labels)) {
    if (!isReservedLabel(key)) labels[key] = value;
  }
  if (!hasClusterIP(service)) labels[HEADLESS_LABEL] = "";
  labels[SERVICE_NAME_LABEL] = service.name;
  labels[MANAGED_BY_LABEL] = MANAGED_BY_SLICELINE;
  return sortedLabels(labels);
}

/**
 * Whether the mirrored Service labels differ. The controller deliberately ignores the reserved
 * labels here, so a slice is rewritten for a label change only when the Service's labels changed.
 */
export function mirroredLabelsDiffer(
  sliceLabels: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
): boolean {
  let count = 0;
  for (const [key, value] of Object.entries(sliceLabels)) {
    if (isReservedLabel(key)) continue;
    if (wanted[key] !== value) return true;
    count++;
  }
  let wantedCount = 0;
  for (const key of Object.keys(wanted)) if (!isReservedLabel(key)) wantedCount++;
  return count !== wantedCount;
}

function isReservedLabel(key: string): boolean {
  return key === SERVICE_NAME_LABEL || key === MANAGED_BY_LABEL || key === HEADLESS_LABEL;
}

function hasClusterIP(service: ServiceRecord): boolean {
  return service.clusterIP !== undefined && service.clusterIP !== "" && service.clusterIP !== "None";
}

export function serviceOwnerReference(service: ServiceRecord): OwnerReference {
  return {
    apiVersion: "v1",
    kind: "Service",
    name: service.name,
    uid: service.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** ownedBy(): a slice left behind by an earlier Service of the same name is not ours to reuse. */
export function isOwnedBy(ownerReferences: readonly OwnerReference[], serviceUid: string): boolean {
  return ownerReferences.some((o) => o.uid === serviceUid && o.kind === "Service" && o.apiVersion === "v1");
}

export function storedSliceFrom(slice: EndpointSlice): StoredSlice {
  const endpoints = new Map<string, Endpoint>();
  let dirty = slice.endpoints.length === 0;
  for (const endpoint of slice.endpoints) {
    const key = endpointKey(endpoint);
    if (endpoints.has(key)) dirty = true;
    else endpoints.set(key, freezeEndpoint(copyEndpoint(endpoint)));
  }
  const ports = slice.ports.map((p) => ({ ...p }));
  const portKey = portSetKey(ports);
  const stored: StoredSlice = {
    name: slice.metadata.name,
    addressType: slice.addressType,
    portKey,
    groupKey: groupKeyOf(slice.addressType, portKey),
    ports,
    labels: { ...slice.metadata.labels },
    ownerReferences: (slice.metadata.ownerReferences ?? []).map((o) => ({ ...o })),
    resourceVersion: slice.metadata.resourceVersion,
    creationTimestamp: slice.metadata.creationTimestamp,
    endpoints,
    dirty,
  };
  return stored;
}

/**
 * A fresh object the caller may keep: its metadata, labels, arrays and ports are its own; its
 * endpoints are the frozen ones of the stored state, which no later reconcile changes.
 */
export function toEndpointSlice(slice: StoredSlice, namespace: string): EndpointSlice {
  const metadata: EndpointSlice["metadata"] = { name: slice.name, namespace, labels: { ...slice.labels } };
  if (slice.resourceVersion !== undefined) metadata.resourceVersion = slice.resourceVersion;
  if (slice.creationTimestamp !== undefined) metadata.creationTimestamp = slice.creationTimestamp;
  metadata.ownerReferences = slice.ownerReferences.map((o) => ({ ...o }));
  // Fresh containers, shared (frozen) endpoints: see freezeEndpoint.
  const endpoints = Array.from(slice.endpoints.values());
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata,
    addressType: slice.addressType,
    endpoints,
    ports: slice.ports.map((p) => ({ ...p })),
  };
}
