/**
 * Which watchers hear of an object change, and what they receive.
 *
 * Channels are topics by scope, not per-watcher filter policies: SNS allows 200 filter policies per
 * topic by default, and 5,000 watchers each filtering would need 25x that. A watcher subscribes
 * its queue to the scopes it wants, unfiltered:
 *   - "EndpointSlice"             every EndpointSlice change (kube-proxy everywhere),
 *   - "EndpointSlice@<zone>"      the same slices cut down to the endpoints in one zone
 *                                 (topology-aware subsetting: a zone's watcher sees only its zone),
 *   - "Cilium"                    CiliumEndpointSlices and CiliumIdentities (cilium-agent),
 *   - "Agent@<zone>"              both of the above for one zone-only node agent (cilium-agent and
 *                                 kube-proxy on one node): every Cilium change plus that zone's
 *                                 EndpointSlice views, the same bundled changes as the two scopes.
 * A zone view of a slice is published only when that zone's part of it (or the slice outside its
 * endpoints: ports, labels) changed, so zone-only watchers receive a fraction of the traffic.
 *
 * Why the agent scope: the fan-out sends one message per scope per invocation, and each message is
 * one delivery per subscriber. A node agent subscribed to "Cilium" and "EndpointSlice@<zone>" gets
 * two deliveries per fan-out invocation where one carries the same changes; its own topic halves
 * that. It costs one extra publish per zone per invocation, not per watcher.
 */
import { isDeepStrictEqual } from "node:util";
import type { Endpoint, EndpointSlice } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

/** What a watcher receives: a watch event plus what propagation latency is measured from. */
export interface ChangeMessage {
  readonly type: WatchEventType;
  readonly kind: OutputKind;
  readonly object: OutputObject;
  readonly resourceVersion: string;
  /** Earliest source-event time the change includes (ms since epoch). */
  readonly sourceTimeMs: number;
  /** The zone this view was cut for; absent for full objects. */
  readonly zone?: string;
}

export const ENDPOINT_SLICE_SCOPE = "EndpointSlice";
export const CILIUM_SCOPE = "Cilium";
export const AGENT_SCOPE = "Agent";

export function zoneScope(zone: string): string {
  return `${ENDPOINT_SLICE_SCOPE}@${zone}`;
}

/** A zone-only node agent's one channel: Cilium kinds plus the zone's EndpointSlice views. */
export function agentScope(zone: string): string {
  return `${AGENT_SCOPE}@${zone}`;
}

/** The scopes a watcher subscribes to, from what it asked for at registration. */
export function scopesForWatcher(
  kinds: readonly OutputKind[],
  zone: string | undefined,
  zoneOnly: boolean,
): string[] {
  const slices = kinds.includes("EndpointSlice");
  const cilium = kinds.includes("CiliumEndpointSlice") || kinds.includes("CiliumIdentity");
  const zoned = zoneOnly && zone !== undefined;
  if (slices && cilium && zoned) return [agentScope(zone)];
  const scopes: string[] = [];
  if (slices) scopes.push(zoned ? zoneScope(zone) : ENDPOINT_SLICE_SCOPE);
  if (cilium) scopes.push(CILIUM_SCOPE);
  return scopes;
}

export interface ObjectChange {
  readonly kind: OutputKind;
  /** undefined: the object was created. */
  readonly before: OutputObject | undefined;
  /** undefined: the object was deleted. */
  readonly after: OutputObject | undefined;
  readonly sourceTimeMs: number;
}

export interface RoutedMessage {
  readonly scope: string;
  readonly message: ChangeMessage;
}

/**
 * The messages one stored change produces, by scope; `zones` are the zones that have a topic. A
 * message routed to several scopes is the same object each time: each scope's bundle carries it once.
 */
export function routeChange(change: ObjectChange, zones: readonly string[]): RoutedMessage[] {
  const current = change.after ?? change.before;
  if (current === undefined) return [];
  const type: WatchEventType =
    change.before === undefined ? "ADDED" : change.after === undefined ? "DELETED" : "MODIFIED";
  const full: ChangeMessage = {
    type,
    kind: change.kind,
    object: current,
    resourceVersion: current.metadata.resourceVersion ?? "0",
    sourceTimeMs: change.sourceTimeMs,
  };
  if (change.kind !== "EndpointSlice") {
    return [
      { scope: CILIUM_SCOPE, message: full },
      ...zones.map((zone) => ({ scope: agentScope(zone), message: full })),
    ];
  }
  const routed: RoutedMessage[] = [{ scope: ENDPOINT_SLICE_SCOPE, message: full }];
  for (const zone of zones) {
    const view = zoneView(change, zone, full);
    if (view === undefined) continue;
    routed.push({ scope: zoneScope(zone), message: view }, { scope: agentScope(zone), message: view });
  }
  return routed;
}

function zoneView(change: ObjectChange, zone: string, full: ChangeMessage): ChangeMessage | undefined {
  const before = endpointsInZone(change.before as EndpointSlice | undefined, zone);
  const after = endpointsInZone(change.after as EndpointSlice | undefined, zone);
  if (before.length === 0 && after.length === 0) return undefined;
  if (
    before.length > 0 &&
    after.length > 0 &&
    sameEndpoints(before, after) &&
    sameOutsideEndpoints(change.before as EndpointSlice, change.after as EndpointSlice)
  )
    return undefined;
  const type: WatchEventType = before.length === 0 ? "ADDED" : after.length === 0 ? "DELETED" : "MODIFIED";
  const base = full.object as EndpointSlice;
  const object: EndpointSlice = { ...base, endpoints: type === "DELETED" ? before : after };
  return { ...full, type, object, zone };
}

function endpointsInZone(slice: EndpointSlice | undefined, zone: string): Endpoint[] {
  return slice === undefined ? [] : slice.endpoints.filter((endpoint) => endpoint.zone === zone);
}

/**
 * Ports, labels, address type: a zone watcher holds them too, and a change of them it never heard
 * of would leave its copy stale while its zone's endpoints stay the same.
 */
function sameOutsideEndpoints(before: EndpointSlice, after: EndpointSlice): boolean {
  const outside = ({ endpoints: _endpoints, metadata, ...rest }: EndpointSlice) => {
    const { resourceVersion: _version, ...meta } = metadata;
    return { ...rest, metadata: meta };
  };
  return isDeepStrictEqual(outside(before), outside(after));
}

function sameEndpoints(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}
