/**
 * How the controller tells endpoints apart (its endpointHash) and when a known endpoint has changed
 * (EndpointsEqualBeyondHash). Keying on addresses and pod name, not on every field, is what lets a
 * readiness flip rewrite an endpoint in place instead of moving it to another slice.
 */
import type { Endpoint } from "#shared/core/model.ts";

/** Identity of an endpoint inside one (addressType, port set) group: its addresses and its pod. */
export function endpointKey(endpoint: Endpoint): string {
  const addresses = endpoint.addresses.length > 1 ? [...endpoint.addresses].sort() : endpoint.addresses;
  // join, not a template: the key is kept for the endpoint's lifetime, and concatenation leaves a
  // tree of cons strings (plus a flat copy once hashed) where join builds one flat string.
  return [addresses.join(","), "\n", endpoint.targetRef.namespace, "/", endpoint.targetRef.name].join("");
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
  const { ready, serving, terminating } = endpoint.conditions;
  // Read back from storage, a condition could be missing; only a full triple may be shared.
  const complete =
    typeof ready === "boolean" && typeof serving === "boolean" && typeof terminating === "boolean";
  return newEndpoint(
    endpoint.addresses.slice(),
    complete ? sharedConditions(ready, serving, terminating) : { ready, serving, terminating },
    {
      kind: "Pod",
      namespace: endpoint.targetRef.namespace,
      name: endpoint.targetRef.name,
      uid: endpoint.targetRef.uid,
    },
    endpoint.nodeName,
    endpoint.zone,
  );
}

/**
 * An endpoint whose optional fields are present only when defined, each shape built as one
 * literal: fields added after creation would go to a separate, over-allocated property store.
 */
export function newEndpoint(
  addresses: string[],
  conditions: Endpoint["conditions"],
  targetRef: Endpoint["targetRef"],
  nodeName: string | undefined,
  zone: string | undefined,
): Endpoint {
  if (nodeName === undefined) {
    return zone === undefined
      ? { addresses, conditions, targetRef }
      : { addresses, conditions, targetRef, zone };
  }
  return zone === undefined
    ? { addresses, conditions, targetRef, nodeName }
    : { addresses, conditions, targetRef, nodeName, zone };
}

/** The eight possible condition triples, frozen: every endpoint with the same triple shares one. */
const CONDITIONS: readonly Readonly<Endpoint["conditions"]>[] = Array.from({ length: 8 }, (_, bits) =>
  Object.freeze({ ready: (bits & 4) !== 0, serving: (bits & 2) !== 0, terminating: (bits & 1) !== 0 }),
);

export function sharedConditions(
  ready: boolean,
  serving: boolean,
  terminating: boolean,
): Endpoint["conditions"] {
  return CONDITIONS[(ready ? 4 : 0) | (serving ? 2 : 0) | (terminating ? 1 : 0)] as Endpoint["conditions"];
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
