/**
 * The HTTP API as a pure function: (method, path, query, headers, body) -> (status, headers, body).
 * No HTTP server and no AWS types here: the Lambda handler adapts API Gateway events to it, a
 * local runner adapts node:http, and tests call it directly.
 *
 * Routes (docs/contract.md §3 and §4):
 *   GET  /api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}        discovery
 *   GET  /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices[/{name}]
 *   GET  /apis/discovery.k8s.io/v1/endpointslices
 *   GET  /apis/cilium.io/v2alpha1/ciliumendpointslices[/{name}]
 *   GET  /apis/cilium.io/v2/ciliumidentities[/{id}]
 *        ?labelSelector=&fieldSelector=&limit=&continue=   (and Table output on request)
 *        ?watch=true&resourceVersion=&allowWatchBookmarks=&timeoutSeconds=   on the lists (docs/watch.md)
 *   GET  /v1/ipcache/{ip}, /v1/stats, /healthz, /
 *   POST /v1/watchers, GET|DELETE /v1/watchers/{node}, POST /v1/watchers/{node}/applied
 * Every error is a Kubernetes Status.
 */
import { parseAddress } from "#shared/core/endpointslice/ip-address.ts";
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { CHANGE_LOG_RETENTION_MS } from "#shared/fanout/change-log.ts";
import { API_RESOURCES, type ApiResource, OUTPUT_KINDS } from "./api-resources.ts";
import { type FleetConvergence, fleetConvergence } from "./convergence.ts";
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  coreResourceList,
  rootPaths,
} from "./discovery.ts";
import { parseFieldSelector, parseLabelSelector } from "./label-selector.ts";
import { invalidName, namespaceProblem, objectNameProblem } from "./object-names.ts";
import type { ListOptions, SliceReader } from "./slice-reader.ts";
import {
  badRequest,
  type KubeStatus,
  methodNotAllowed,
  notAcceptable,
  objectNotFound,
  pathNotFound,
  StatusError,
  successStatus,
  internalError as toInternalError,
} from "./status.ts";
import { type IncludeObject, renderTable, type Table } from "./table.ts";
import {
  type ChangeLogReader,
  listResourceVersion,
  WATCH_REPLAY_MARGIN_MS,
  type WatchEventLine,
  type WatchPlan,
  watchEvents,
} from "./watch-stream.ts";
import {
  authorizeWatcherCaller,
  OPEN_POLICY,
  type WatcherAuthorizationPolicy,
  type WatcherOwner,
} from "./watcher-authorization.ts";
import { watcherErrorStatus } from "./watcher-errors.ts";
import {
  nodeNameSchema,
  type WatcherRegistry,
  watcherAckSchema,
  watcherRequestSchema,
} from "./watcher-registry.ts";

export type QueryParameters = URLSearchParams | Readonly<Record<string, string | undefined>>;

export interface ApiRequest {
  readonly method: string;
  /** The decoded-or-not URL path without query string; segments are percent-decoded here. */
  readonly path: string;
  readonly query?: QueryParameters | undefined;
  /** Header names in any case. */
  readonly headers?: Readonly<Record<string, string | undefined>> | undefined;
  readonly body?: string | undefined;
  /** The caller's IAM principal ARN, as API Gateway's IAM authorizer established it. */
  readonly callerArn?: string | undefined;
  /**
   * How a watch answers: "long-poll" (default; behind API Gateway's 30 s limit) ends as soon as
   * it sent events, "stream" keeps going until its timeout (a connection that can stay open).
   */
  readonly watchMode?: "long-poll" | "stream" | undefined;
  /** The latest time (ms since epoch) the response may end, e.g. before the function times out. */
  readonly deadlineMs?: number | undefined;
  /** Aborted when the client went away: a watch then ends at its next poll instead of its deadline. */
  readonly signal?: AbortSignal | undefined;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The route template that answered ("GET /v1/ipcache/{ip}", "unmatched"), for metrics and logs. */
  readonly route: string;
  /** A watch: further body chunks (JSON lines) after `body`, as they come. */
  readonly chunks?: AsyncIterable<string> | undefined;
}

/** Where a watch reads changes from, and how it paces itself (docs/watch.md). */
export interface WatchOptions {
  readonly log: ChangeLogReader;
  /** Between reads of the log; default 500 ms. */
  readonly pollIntervalMs?: number;
  /** Longest watch without a deadline of its own: long poll 25 s, stream 30 min by default. */
  readonly longPollWindowMs?: number;
  readonly streamWindowMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const BOOKMARK_INTERVAL_MS = 10_000;

export interface ApiRouterOptions {
  readonly reader: SliceReader;
  /** undefined: watcher routes answer 500 "watcher registry not configured". */
  readonly watchers?: WatcherRegistry | undefined;
  /** Who may act on which node's watcher; default: anyone (OPEN_POLICY). */
  readonly watcherAuthorization?: WatcherAuthorizationPolicy | undefined;
  readonly now?: () => number;
  /** Called when a node acknowledges its applied watermark, with how far behind now it is (a metric). */
  readonly onWatcherApplied?: (node: string, lagMs: number) => void;
  /** undefined: `watch=true` answers 405. */
  readonly watch?: WatchOptions | undefined;
  /** Called with anything unexpected that became a 500, so the caller can log it. */
  readonly onError?: (error: unknown, route: string) => void;
}

export type ApiRouter = (request: ApiRequest) => Promise<ApiResponse>;

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-cache, private" } as const;

interface Matched {
  readonly route: string;
  readonly methods: readonly string[];
  run(): Promise<ApiResponse> | ApiResponse;
}

export function createApiRouter(options: ApiRouterOptions): ApiRouter {
  const now = options.now ?? Date.now;
  const { reader } = options;

  return async (request) => {
    const method = request.method.toUpperCase();
    const headers = lowerCaseKeys(request.headers);
    const param = queryReader(request.query);
    let route = "unmatched";
    try {
      const segments = pathSegments(request.path);
      const matched = segments === undefined ? undefined : match(segments);
      if (matched === undefined) throw pathNotFound();
      route = `${method} ${matched.route}`;
      if (!matched.methods.includes(method)) throw methodNotAllowed(method);
      return withRoute(await matched.run(), route);
    } catch (error) {
      if (error instanceof StatusError) return statusResponse(error.status, route);
      options.onError?.(error, route);
      return statusResponse(toInternalError("the server could not complete the request").status, route);
    }

    function match(segments: readonly string[]): Matched | undefined {
      const [first, second, third] = segments;
      const n = segments.length;
      if (n === 0) return get("/", () => json(200, rootPaths()));
      if (first === "healthz" && n === 1)
        return get("/healthz", () => ({
          status: 200,
          headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache, private" },
          body: "ok",
          route: "",
        }));
      if (first === "api") {
        if (n === 1) return get("/api", () => json(200, apiVersions(headers.host ?? "")));
        if (n === 2 && second === "v1") return get("/api/v1", () => json(200, coreResourceList()));
        if (n === 4 && second === "v1" && third === "namespaces")
          return get("/api/v1/namespaces/{namespace}", () => namespace(segments[3] as string));
        return undefined;
      }
      if (first === "apis") return matchApis(segments);
      if (first === "v1") {
        if (second === "ipcache" && n === 3) return get("/v1/ipcache/{ip}", () => ipcache(third as string));
        if (second === "stats" && n === 2)
          return get("/v1/stats", async () =>
            json(200, { ...(await reader.stats()), ...(await convergence()) }),
          );
        if (second === "watchers" && n === 2)
          return {
            route: "/v1/watchers",
            methods: ["POST"],
            run: () => watcherErrorStatus(() => registerWatcher(request.body)),
          };
        if (second === "watchers" && n === 4 && segments[3] === "applied")
          return {
            route: "/v1/watchers/{node}/applied",
            methods: ["POST"],
            run: () => watcherErrorStatus(() => acknowledgeWatcher(third as string, request.body)),
          };
        if (second === "watchers" && n === 3)
          return {
            route: "/v1/watchers/{node}",
            methods: ["GET", "DELETE"],
            run: () =>
              watcherErrorStatus(() =>
                method === "DELETE" ? deregisterWatcher(third as string) : getWatcher(third as string),
              ),
          };
      }
      return undefined;
    }

    function matchApis(segments: readonly string[]): Matched | undefined {
      const [, group, version, ...rest] = segments;
      if (group === undefined) return get("/apis", () => json(200, apiGroupList()));
      const groupDocument = apiGroup(group);
      if (groupDocument === undefined) return undefined;
      if (version === undefined) return get(`/apis/${group}`, () => json(200, groupDocument));
      const resources = apiResourceList(group, version);
      if (resources === undefined) return undefined;
      const base = `/apis/${group}/${version}`;
      if (rest.length === 0) return get(base, () => json(200, resources));
      const resourceAt = (plural: string | undefined): ApiResource | undefined =>
        OUTPUT_KINDS.map((k) => API_RESOURCES[k]).find(
          (r) => r.plural === plural && r.group === group && r.version === version,
        );
      const [a, b, c, d] = rest;
      if (a === "namespaces" && rest.length >= 3) {
        const resource = resourceAt(c);
        if (resource === undefined || !resource.namespaced || rest.length > 4) return undefined;
        const namespace = b as string;
        if (rest.length === 3)
          return get(`${base}/namespaces/{namespace}/${resource.plural}`, () => list(resource, namespace));
        return get(`${base}/namespaces/{namespace}/${resource.plural}/{name}`, () =>
          getObject(resource, namespace, d as string),
        );
      }
      const resource = resourceAt(a);
      if (resource === undefined || rest.length > 2) return undefined;
      if (rest.length === 1) return get(`${base}/${resource.plural}`, () => list(resource, undefined));
      if (resource.namespaced) return undefined;
      return get(`${base}/${resource.plural}/{name}`, () => getObject(resource, undefined, b as string));
    }

    async function list(resource: ApiResource, namespace: string | undefined): Promise<ApiResponse> {
      if (isWatch()) return watch(resource, namespace);
      if (namespace !== undefined) validNamespace(namespace);
      const output = negotiate(headers.accept);
      const listOptions: ListOptions = {
        limit: parseLimit(param("limit")),
        continueToken: emptyToUndefined(param("continue")),
        labelSelector: parseLabelSelector(param("labelSelector")),
        fieldSelector: parseFieldSelector(param("fieldSelector")),
      };
      const includeObject =
        output.table === undefined ? "Metadata" : parseIncludeObject(param("includeObject"));
      const result = await reader.list(resource.kind, namespace, listOptions);
      const resourceVersion = listVersion(result.resourceVersion);
      const metadata =
        result.continueToken === undefined
          ? { resourceVersion }
          : { resourceVersion, continue: result.continueToken };
      if (output.table !== undefined) {
        return json(
          200,
          renderTable(resource.kind, result.items, metadata, {
            nowMs: now(),
            includeObject,
            apiVersion: output.table,
          }),
        );
      }
      return json(200, {
        apiVersion: resource.groupVersion,
        kind: resource.listKind,
        metadata,
        items: result.items,
      });
    }

    async function getObject(
      resource: ApiResource,
      namespace: string | undefined,
      name: string,
    ): Promise<ApiResponse> {
      rejectWatch();
      if (namespace !== undefined) validNamespace(namespace);
      const nameProblem = objectNameProblem(resource.kind, name);
      if (nameProblem !== undefined) throw invalidName("metadata.name", name, nameProblem);
      const output = negotiate(headers.accept);
      const includeObject =
        output.table === undefined ? "Metadata" : parseIncludeObject(param("includeObject"));
      const object = await reader.get(resource.kind, namespace, name);
      if (object === undefined) throw objectNotFound(resource, name);
      if (output.table !== undefined) {
        const table: Table = renderTable(
          resource.kind as OutputKind,
          [object],
          { resourceVersion: object.metadata.resourceVersion ?? "0" },
          { nowMs: now(), includeObject, apiVersion: output.table },
        );
        return json(200, table);
      }
      return json(200, object);
    }

    /**
     * Not a served resource (discovery lists none in v1): kubectl reads it after a NotFound to say
     * whether the object or its namespace is missing, so a known namespace gets a minimal object.
     */
    async function namespace(name: string): Promise<ApiResponse> {
      validNamespace(name);
      if (!(await reader.namespaceExists(name)))
        throw objectNotFound({ group: "", plural: "namespaces" }, name);
      return json(200, {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name },
        status: { phase: "Active" },
      });
    }

    async function ipcache(text: string): Promise<ApiResponse> {
      const parsed = parseAddress(text);
      if (parsed === undefined) throw badRequest(`${JSON.stringify(text)} is not an IP address`);
      const entry = await reader.lookupIP(parsed.address);
      if (entry === undefined)
        throw new StatusError("NotFound", `no live pod has IP ${parsed.address}`, {
          name: parsed.address,
          kind: "ipcache",
        });
      return json(200, entry);
    }

    function registry(): WatcherRegistry {
      if (options.watchers === undefined) throw toInternalError("watcher registry not configured");
      return options.watchers;
    }

    async function registerWatcher(body: string | undefined): Promise<ApiResponse> {
      const watchers = registry();
      let parsedBody: unknown;
      try {
        parsedBody = JSON.parse(body ?? "");
      } catch {
        throw badRequest(
          'the request body must be a JSON object: {"node": ..., "zone": ..., "kinds": [...]}',
        );
      }
      const result = watcherRequestSchema.safeParse(parsedBody);
      if (!result.success) {
        const causes = result.error.issues.map((issue) => ({
          reason: "FieldValueInvalid",
          message: issue.message,
          field: issue.path.join(".") || "body",
        }));
        throw badRequest(
          `invalid watcher registration: ${causes.map((c) => `${c.field}: ${c.message}`).join("; ")}`,
          causes,
        );
      }
      return json(201, await watchers.register(result.data, authorize(result.data.node)));
    }

    /** The owner's GET is its heartbeat; anyone else's (an admin's) only reads. */
    async function getWatcher(node: string): Promise<ApiResponse> {
      const watchers = registry();
      validNode(node);
      const owner = authorize(node);
      const registration = owner.admin ? await watchers.get(node) : await watchers.refresh(node, owner);
      if (registration === undefined) throw watcherNotFound(node);
      return json(200, registration);
    }

    async function deregisterWatcher(node: string): Promise<ApiResponse> {
      const watchers = registry();
      validNode(node);
      if (!(await watchers.deregister(node, authorize(node)))) throw watcherNotFound(node);
      return json(200, successStatus({ name: node, kind: "watchers" }));
    }

    /** The node's applied watermark (owner only): see shared/api/convergence.ts. */
    async function acknowledgeWatcher(node: string, body: string | undefined): Promise<ApiResponse> {
      const watchers = registry();
      validNode(node);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body ?? "");
      } catch {
        throw badRequest('the request body must be a JSON object: {"appliedThroughMs": ...}');
      }
      const result = watcherAckSchema.safeParse(parsed);
      if (!result.success)
        throw badRequest(
          `invalid acknowledgement: ${result.error.issues.map((issue) => issue.message).join("; ")}`,
        );
      if (watchers.acknowledge === undefined)
        throw toInternalError("this watcher registry keeps no acknowledgements");
      const applied = await watchers.acknowledge(node, authorize(node), result.data.appliedThroughMs);
      if (applied === undefined) throw watcherNotFound(node);
      options.onWatcherApplied?.(node, now() - result.data.appliedThroughMs);
      return json(200, applied);
    }

    /** The `convergence` field of /v1/stats, when the registry keeps acknowledgements. */
    async function convergence(): Promise<{ convergence?: FleetConvergence }> {
      const applied = await options.watchers?.appliedWatermarks?.();
      return applied === undefined ? {} : { convergence: fleetConvergence(applied, now()) };
    }

    function authorize(node: string): WatcherOwner {
      const decision = authorizeWatcherCaller(
        options.watcherAuthorization ?? OPEN_POLICY,
        request.callerArn,
        node,
      );
      if (!decision.allowed)
        throw new StatusError("Forbidden", decision.message, { name: node, kind: "watchers" });
      return decision.owner;
    }

    function isWatch(): boolean {
      return isTrueParameter(param("watch"));
    }

    function rejectWatch(): void {
      if (isWatch())
        throw new StatusError("MethodNotAllowed", "watch is served on lists, not on a single object");
    }

    /** Where a watch of a list starts (docs/watch.md); a server without watch keeps the items' highest. */
    function listVersion(highest: string): string {
      return options.watch === undefined ? highest : listResourceVersion(highest, now());
    }

    async function watch(resource: ApiResource, namespace: string | undefined): Promise<ApiResponse> {
      const watching = options.watch;
      if (watching === undefined)
        throw new StatusError(
          "MethodNotAllowed",
          "watch is not configured on this server: register a watcher (POST /v1/watchers) to receive changes",
        );
      if (namespace !== undefined) validNamespace(namespace);
      const output = negotiate(headers.accept);
      const labelSelector = parseLabelSelector(param("labelSelector"));
      const fieldSelector = parseFieldSelector(param("fieldSelector"));
      const version = emptyToUndefined(param("resourceVersion"));
      if (version !== undefined && !/^[0-9]{1,20}$/.test(version))
        throw badRequest(`resourceVersion: must be a decimal number, not ${JSON.stringify(version)}`);
      const startMs = now();
      const timeoutSeconds = parseTimeoutSeconds(param("timeoutSeconds"));
      const stream = request.watchMode === "stream";
      const window = stream
        ? (watching.streamWindowMs ?? 30 * 60_000)
        : (watching.longPollWindowMs ?? 25_000);
      const deadlineMs = Math.min(
        startMs + window,
        timeoutSeconds === undefined ? Number.POSITIVE_INFINITY : startMs + timeoutSeconds * 1000,
        request.deadlineMs ?? Number.POSITIVE_INFINITY,
      );
      let from: string;
      let initial: OutputObject[] | undefined;
      if (version === undefined || /^0+$/.test(version)) {
        // Unset or 0: the current state as ADDED events, then what follows (the apiserver's way).
        initial = [];
        let continueToken: string | undefined;
        let highest = "0";
        do {
          const page = await reader.list(resource.kind, namespace, {
            labelSelector,
            fieldSelector,
            continueToken,
          });
          initial.push(...page.items);
          if (compareResourceVersions(page.resourceVersion, highest) > 0) highest = page.resourceVersion;
          continueToken = page.continueToken;
        } while (continueToken !== undefined);
        from = listVersion(highest);
      } else {
        const oldestKeptMicros = BigInt(Math.floor(startMs - CHANGE_LOG_RETENTION_MS)) * 1000n;
        if (BigInt(version) < oldestKeptMicros)
          throw new StatusError(
            "Expired",
            `too old resource version: ${version} (changes are kept for ${CHANGE_LOG_RETENTION_MS / 60_000} minutes)`,
          );
        from = version;
      }
      const plan: WatchPlan = {
        kind: resource.kind,
        apiVersion: resource.groupVersion,
        namespace,
        labelSelector,
        fieldSelector,
        from,
        initial,
        // A Table watch (kubectl get -w) gets rows only: a bookmark is no row.
        bookmarks: isTrueParameter(param("allowWatchBookmarks")) && output.table === undefined,
        deadlineMs,
        endWhenEventsSent: !stream,
        signal: request.signal,
      };
      const events = watchEvents(plan, {
        log: watching.log,
        pollIntervalMs: watching.pollIntervalMs ?? 500,
        replayMarginMs: WATCH_REPLAY_MARGIN_MS,
        bookmarkIntervalMs: BOOKMARK_INTERVAL_MS,
        now,
        sleep: watching.sleep ?? ((ms) => abortableSleep(ms, request.signal)),
      });
      const table = output.table;
      const render = (line: WatchEventLine): string => {
        if (table === undefined || line.type === "BOOKMARK") return `${JSON.stringify(line)}\n`;
        const object = renderTable(
          resource.kind,
          [line.object],
          { resourceVersion: line.object.metadata.resourceVersion ?? "0" },
          { nowMs: now(), includeObject: parseIncludeObject(param("includeObject")), apiVersion: table },
        );
        return `${JSON.stringify({ type: line.type, object })}\n`;
      };
      return {
        status: 200,
        headers: { ...JSON_HEADERS },
        body: "",
        route: "",
        chunks: mapLines(events, render),
      };
    }
  };
}

/**
 * A boolean query parameter as the apiserver reads it (Go's strconv.ParseBool): the Python client
 * sends `watch=True`, kubectl `watch=true`, others `watch=1`.
 */
export function isTrueParameter(value: string | undefined): boolean {
  return value !== undefined && ["1", "t", "T", "true", "TRUE", "True"].includes(value);
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

async function* mapLines<T>(lines: AsyncIterable<T>, render: (line: T) => string): AsyncGenerator<string> {
  for await (const line of lines) yield render(line);
}

function parseTimeoutSeconds(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[0-9]{1,9}$/.test(value))
    throw badRequest(`timeoutSeconds: must be a non-negative integer, not ${JSON.stringify(value)}`);
  const seconds = Number(value);
  return seconds === 0 ? undefined : seconds;
}

function get(route: string, run: () => Promise<ApiResponse> | ApiResponse): Matched {
  return { route, methods: ["GET"], run };
}

function json(status: number, body: unknown): ApiResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body), route: "" };
}

function withRoute(response: ApiResponse, route: string): ApiResponse {
  return { ...response, route };
}

function statusResponse(status: KubeStatus, route: string): ApiResponse {
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (status.details?.retryAfterSeconds !== undefined)
    headers["retry-after"] = String(status.details.retryAfterSeconds);
  return { status: status.code, headers, body: JSON.stringify(status), route };
}

function watcherNotFound(node: string): StatusError {
  return new StatusError("NotFound", `watchers "${node}" not found`, { name: node, kind: "watchers" });
}

function validNamespace(namespace: string): void {
  const problem = namespaceProblem(namespace);
  if (problem !== undefined) throw invalidName("metadata.namespace", namespace, problem);
}

function validNode(node: string): void {
  if (!nodeNameSchema.safeParse(node).success) throw badRequest(`invalid node name ${JSON.stringify(node)}`);
}

/** Path segments, percent-decoded; undefined if the path cannot be decoded (answered 404). */
function pathSegments(path: string): string[] | undefined {
  const segments = path.split("/").filter((segment, index, all) => {
    // Ignore the leading "" and a single trailing slash; empty segments inside the path stay (and miss).
    return !((index === 0 || index === all.length - 1) && segment === "");
  });
  try {
    return segments.map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

function lowerCaseKeys(
  headers: Readonly<Record<string, string | undefined>> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers ?? {}))
    if (value !== undefined) out[key.toLowerCase()] = value;
  return out;
}

function queryReader(query: QueryParameters | undefined): (name: string) => string | undefined {
  if (query === undefined) return () => undefined;
  if (query instanceof URLSearchParams) return (name) => query.get(name) ?? undefined;
  return (name) => query[name];
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[0-9]{1,15}$/.test(value))
    throw badRequest(`limit: must be a non-negative integer, not ${JSON.stringify(value)}`);
  const limit = Number(value);
  return limit === 0 ? undefined : limit;
}

function parseIncludeObject(value: string | undefined): IncludeObject {
  if (value === undefined || value === "") return "Metadata";
  if (value === "None" || value === "Object" || value === "Metadata") return value;
  throw badRequest(`includeObject: must be None, Object or Metadata, not ${JSON.stringify(value)}`);
}

/**
 * Content negotiation: the first media range this server can produce wins (kubectl lists its
 * preferences in order). Table v1 / v1beta1 when asked for; plain JSON for application/json and
 * wildcards; 406 when nothing acceptable is offered.
 */
export function negotiate(accept: string | undefined): { table: Table["apiVersion"] | undefined } {
  if (accept === undefined || accept.trim() === "") return { table: undefined };
  for (const range of accept.split(",")) {
    const [type = "", ...parameters] = range.split(";").map((part) => part.trim());
    const params = new Map(
      parameters.map((p) => {
        const eq = p.indexOf("=");
        return [p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim()] as const;
      }),
    );
    const mediaType = type.toLowerCase();
    if (mediaType === "*/*" || mediaType === "application/*") return { table: undefined };
    if (mediaType !== "application/json") continue;
    const as = params.get("as");
    if (as === undefined) return { table: undefined };
    if (as === "Table" && params.get("g") === "meta.k8s.io") {
      const v = params.get("v");
      if (v === "v1") return { table: "meta.k8s.io/v1" };
      if (v === "v1beta1") return { table: "meta.k8s.io/v1beta1" };
    }
  }
  throw notAcceptable(accept);
}
