/**
 * The HTTP API's routes (docs/contract.md §3 and §4), declared once: the router dispatches on them (router.ts), the CDK app
 * creates one API Gateway route per entry (infra/constructs/read-api.ts), and the tests check both
 * against this list. A path is a template in API Gateway's syntax: literal segments and
 * `{parameter}` segments, each matching exactly one path segment.
 *
 * Kubernetes paths are matched here by shape ({group}, {version}, {resource}); whether the group,
 * version or resource is served is the router's question (an unserved one answers 404).
 */

export type RouteMethod = "GET" | "POST" | "DELETE";

export interface ApiRoute {
  readonly method: RouteMethod;
  readonly path: string;
  /** The router's function for it (router.ts ROUTE_HANDLERS). */
  readonly handler: string;
}

export const API_ROUTES = [
  // Discovery (kubectl --server=<url> reads these first).
  { method: "GET", path: "/", handler: "root" },
  { method: "GET", path: "/api", handler: "coreVersions" },
  { method: "GET", path: "/api/{version}", handler: "coreResources" },
  { method: "GET", path: "/apis", handler: "groups" },
  { method: "GET", path: "/apis/{group}", handler: "group" },
  { method: "GET", path: "/apis/{group}/{version}", handler: "groupResources" },
  // kubectl checks that a namespace exists after a NotFound.
  { method: "GET", path: "/api/{version}/namespaces/{namespace}", handler: "namespace" },
  // Cluster-wide lists and cluster-scoped gets: endpointslices (all namespaces),
  // ciliumendpointslices, ciliumidentities.
  { method: "GET", path: "/apis/{group}/{version}/{resource}", handler: "list" },
  { method: "GET", path: "/apis/{group}/{version}/{resource}/{name}", handler: "get" },
  // Namespaced list and get: endpointslices.
  {
    method: "GET",
    path: "/apis/{group}/{version}/namespaces/{namespace}/{resource}",
    handler: "listNamespaced",
  },
  {
    method: "GET",
    path: "/apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}",
    handler: "getNamespaced",
  },
  // Conveniences.
  { method: "GET", path: "/v1/ipcache/{ip}", handler: "ipcache" },
  { method: "GET", path: "/v1/stats", handler: "stats" },
  { method: "GET", path: "/healthz", handler: "health" },
  // Watchers.
  { method: "POST", path: "/v1/watchers", handler: "registerWatcher" },
  { method: "GET", path: "/v1/watchers/{node}", handler: "getWatcher" },
  { method: "DELETE", path: "/v1/watchers/{node}", handler: "deregisterWatcher" },
  { method: "POST", path: "/v1/watchers/{node}/applied", handler: "acknowledgeWatcher" },
] as const satisfies readonly ApiRoute[];

export type RouteHandlerName = (typeof API_ROUTES)[number]["handler"];

/** "METHOD path", API Gateway's route key. */
export function routeKey(route: ApiRoute): string {
  return `${route.method} ${route.path}`;
}

/** Every route key of the API, in the table's order. */
export const API_ROUTE_KEYS: readonly string[] = API_ROUTES.map(routeKey);

/** A route whose path template matched a path, with the values of its parameters. */
export interface PathMatch {
  readonly route: (typeof API_ROUTES)[number];
  readonly params: Readonly<Record<string, string>>;
}

const TEMPLATES = API_ROUTES.map((route) => ({
  route,
  segments: route.path.split("/").filter((segment) => segment !== ""),
}));

/** The routes whose path template matches the (decoded) path segments, in the table's order. */
export function matchPath(segments: readonly string[]): PathMatch[] {
  const matches: PathMatch[] = [];
  for (const { route, segments: template } of TEMPLATES) {
    const params = matchTemplate(template, segments);
    if (params !== undefined) matches.push({ route, params });
  }
  return matches;
}

function matchTemplate(
  template: readonly string[],
  segments: readonly string[],
): Record<string, string> | undefined {
  if (template.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of template.entries()) {
    const segment = segments[index] as string;
    if (part.startsWith("{") && part.endsWith("}")) params[part.slice(1, -1)] = segment;
    else if (part !== segment) return undefined;
  }
  return params;
}
