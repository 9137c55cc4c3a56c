/**
 * How the controller tells endpoints apart (its endpointHash) and when a known endpoint has changed
 * (EndpointsEqualBeyondHash). Keying on addresses and pod name, not on every field, is what lets a
 * readiness flip rewrite an endpoint in place instead of moving it to another slice.
 */
import type { Endpoint } from "#shared/core/model.ts";

/** Identity of an endpoint inside one (addressType, port set) group: its addresses and its pod. */
export function endpointKey(endpoint: Endpoint): string {
  const addresses = endpoint.addresses.length > 1 ? [...endpoint.addresses].sort() : endpoint.addresses;
  return `${addresses.join(",")}\n${endpoint.targetRef.namespace}/${endpoint.targetRef.name}`;
}

/** The pod an endpoint stands for, as podKey() spells it. */
export function endpointPodKey(endpoint: Endpoint): string {
  return `${endpoint.targetRef.namespace}/${endpoint.targetRef.name}`;
}

/** Equal in everything the key does not cover; two endpoints with equal keys and this are the same. */
export function endpointsEqualBeyondKey(a: Endpoint, b: Endpoint): boolean {
  return (
    a.nodeName === b.nodeName &&
    a.zone === b.zone &&
    a.conditions.ready === b.conditions.ready &&
    a.conditions.serving === b.conditions.serving &&
    a.conditions.terminating === b.conditions.terminating &&
    a.targetRef.kind === b.targetRef.kind &&
    a.targetRef.namespace === b.targetRef.namespace &&
    a.targetRef.name === b.targetRef.name &&
    a.targetRef.uid === b.targetRef.uid
  );
}

export function endpointsEqual(a: Endpoint, b: Endpoint): boolean {
  if (a.addresses.length !== b.addresses.length) return false;
  for (let i = 0; i < a.addresses.length; i++) if (a.addresses[i] !== b.addresses[i]) return false;
  return endpointsEqualBeyondKey(a, b);
}

/**
 * A deep copy without undefined-valued keys, so it serializes exactly like the original. Fields in
 * the order of the Kubernetes type (addresses, conditions, targetRef, nodeName, zone), so every copy
 * of an endpoint serializes to the same bytes. Built by assignment: this runs for every endpoint of
 * every slice written, and object spread is several times slower.
 */
export function copyEndpoint(endpoint: Endpoint): Endpoint {
  const copy: Endpoint = {
    addresses: endpoint.addresses.slice(),
    conditions: {
      ready: endpoint.conditions.ready,
      serving: endpoint.conditions.serving,
      terminating: endpoint.conditions.terminating,
    },
    targetRef: {
      kind: "Pod",
      namespace: endpoint.targetRef.namespace,
      name: endpoint.targetRef.name,
      uid: endpoint.targetRef.uid,
    },
  };
  if (endpoint.nodeName !== undefined) copy.nodeName = endpoint.nodeName;
  if (endpoint.zone !== undefined) copy.zone = endpoint.zone;
  return copy;
}

/**
 * Endpoints held in the slices are immutable: a rewrite replaces an endpoint, never edits it. That
 * lets every slice handed out share them instead of copying each endpoint of each written slice
 * (which was half the cost of a reconcile), while a caller that tries to edit one fails loudly.
 */
export function freezeEndpoint(endpoint: Endpoint): Readonly<Endpoint> {
  Object.freeze(endpoint.addresses);
  Object.freeze(endpoint.conditions);
  Object.freeze(endpoint.targetRef);
  return Object.freeze(endpoint);
}
