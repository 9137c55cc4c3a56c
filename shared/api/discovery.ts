/**
 * Discovery documents, as kubectl and client libraries read them to map `endpointslices`, `ces`
 * or `ciliumidentities` to a group, version, scope and path.
 */
import { API_RESOURCES, type ApiResource, GROUP_VERSIONS, OUTPUT_KINDS } from "./api-resources.ts";

const VERBS = ["get", "list", "watch"] as const;

interface GroupVersionForDiscovery {
  groupVersion: string;
  version: string;
}

interface ApiGroup {
  kind: "APIGroup";
  apiVersion: "v1";
  name: string;
  versions: GroupVersionForDiscovery[];
  preferredVersion: GroupVersionForDiscovery;
}

/**
 * No core version is advertised: sliceline serves no core kind, and current kubectl (1.3x) fails
 * discovery outright on a listed group version without resources ("received empty response for:
 * v1"). /api/v1 itself still answers (kubectl reads /api/v1/namespaces/{ns} after a NotFound).
 * Discovery is always answered in its plain form, Content-Type application/json: clients asking
 * for aggregated discovery (apidiscovery.k8s.io/v2) see that and fall back to the plain documents.
 */
export function apiVersions(serverAddress: string): unknown {
  return {
    kind: "APIVersions",
    versions: [],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

/** The core group serves none of our kinds, but clients ask for it before anything else. */
export function coreResourceList(): unknown {
  return { kind: "APIResourceList", groupVersion: "v1", resources: [] };
}

export function apiGroup(name: string): ApiGroup | undefined {
  const entry = GROUP_VERSIONS.find((g) => g.group === name);
  if (entry === undefined) return undefined;
  const versions = entry.versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return {
    kind: "APIGroup",
    apiVersion: "v1",
    name,
    versions,
    preferredVersion: versions[0] as GroupVersionForDiscovery,
  };
}

export function apiGroupList(): unknown {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: GROUP_VERSIONS.map(({ group }) => {
      const { kind: _kind, apiVersion: _apiVersion, ...rest } = apiGroup(group) as ApiGroup;
      return rest;
    }),
  };
}

export function resourcesOf(groupVersion: string): ApiResource[] {
  return OUTPUT_KINDS.map((kind) => API_RESOURCES[kind]).filter((r) => r.groupVersion === groupVersion);
}

export function apiResourceList(group: string, version: string): unknown {
  const groupVersion = `${group}/${version}`;
  if (apiGroup(group)?.versions.some((v) => v.version === version) !== true) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion,
    resources: resourcesOf(groupVersion).map((r) => ({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: [...VERBS],
      ...(r.shortNames.length > 0 ? { shortNames: [...r.shortNames] } : {}),
      ...(r.categories.length > 0 ? { categories: [...r.categories] } : {}),
    })),
  };
}

/** GET / : the paths this server answers, as the apiserver lists its own. */
export function rootPaths(): unknown {
  const paths = ["/api", "/api/v1", "/apis", "/healthz", "/v1/ipcache", "/v1/stats", "/v1/watchers"];
  for (const { group, versions } of GROUP_VERSIONS) {
    paths.push(`/apis/${group}`, ...versions.map((v) => `/apis/${group}/${v}`));
  }
  return { paths: paths.sort() };
}
