/**
 * The three resources the API serves, described once: discovery documents, routes, Status
 * details and Table columns are all derived from these entries.
 */
import type { OutputKind } from "#shared/core/output-changes.ts";

export interface ApiResource {
  readonly kind: OutputKind;
  readonly listKind: string;
  readonly group: string;
  readonly version: string;
  /** group/version, the apiVersion of objects and lists. */
  readonly groupVersion: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
}

function resource(fields: Omit<ApiResource, "groupVersion">): ApiResource {
  return { ...fields, groupVersion: `${fields.group}/${fields.version}` };
}

export const API_RESOURCES: Readonly<Record<OutputKind, ApiResource>> = {
  EndpointSlice: resource({
    kind: "EndpointSlice",
    listKind: "EndpointSliceList",
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    singular: "endpointslice",
    namespaced: true,
    shortNames: [],
    categories: [],
  }),
  // Cluster-scoped like Cilium's CRD: the namespace a CES covers is its top-level `namespace` field.
  CiliumEndpointSlice: resource({
    kind: "CiliumEndpointSlice",
    listKind: "CiliumEndpointSliceList",
    group: "cilium.io",
    version: "v2alpha1",
    plural: "ciliumendpointslices",
    singular: "ciliumendpointslice",
    namespaced: false,
    shortNames: ["ces"],
    categories: ["cilium"],
  }),
  CiliumIdentity: resource({
    kind: "CiliumIdentity",
    listKind: "CiliumIdentityList",
    group: "cilium.io",
    version: "v2",
    plural: "ciliumidentities",
    singular: "ciliumidentity",
    namespaced: false,
    shortNames: ["ciliumid"],
    categories: ["cilium"],
  }),
};

export { OUTPUT_KINDS } from "#shared/core/output-changes.ts";

/** Served group versions, in the order discovery lists them; a group's first version is preferred. */
export const GROUP_VERSIONS: ReadonlyArray<{ readonly group: string; readonly versions: readonly string[] }> =
  [
    { group: "discovery.k8s.io", versions: ["v1"] },
    { group: "cilium.io", versions: ["v2", "v2alpha1"] },
  ];
