/**
 * The pre-EndpointSlice way, as a comparison baseline: one v1 Endpoints object per Service
 * holding every backend, so each change rewrites (and every watcher receives) all of it.
 */
import type { EndpointPort, EndpointSlice } from "#shared/core/model.ts";

export interface EndpointAddress {
  ip: string;
  nodeName?: string;
  targetRef: { kind: "Pod"; namespace: string; name: string; uid: string };
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports: Array<Omit<EndpointPort, "appProtocol"> & { appProtocol?: string }>;
}

export interface EndpointsV1 {
  apiVersion: "v1";
  kind: "Endpoints";
  metadata: { name: string; namespace: string; labels?: Record<string, string>; resourceVersion?: string };
  subsets: EndpointSubset[];
}

/**
 * Builds the Endpoints object the legacy controller would publish from the Service's slices:
 * one subset per port set, ready addresses apart from not-ready ones, terminating pods left out
 * (the Endpoints API has no terminating state).
 */
export function endpointsFromSlices(
  namespace: string,
  serviceName: string,
  slices: readonly EndpointSlice[],
): EndpointsV1 {
  const subsets = new Map<string, EndpointSubset>();
  for (const slice of slices) {
    const portKey = JSON.stringify(slice.ports);
    let subset = subsets.get(portKey);
    if (subset === undefined) {
      subset = { ports: slice.ports.map((p) => ({ ...p })) };
      subsets.set(portKey, subset);
    }
    for (const endpoint of slice.endpoints) {
      if (endpoint.conditions.terminating) continue;
      const listName = endpoint.conditions.ready ? "addresses" : "notReadyAddresses";
      const list = subset[listName] ?? [];
      subset[listName] = list;
      for (const ip of endpoint.addresses) {
        const address: EndpointAddress = { ip, targetRef: endpoint.targetRef };
        if (endpoint.nodeName !== undefined) address.nodeName = endpoint.nodeName;
        list.push(address);
      }
    }
  }
  return {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: { name: serviceName, namespace },
    subsets: [...subsets.values()].filter(
      (s) => s.addresses !== undefined || s.notReadyAddresses !== undefined,
    ),
  };
}
