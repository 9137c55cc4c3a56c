/**
 * The HTTP API as a pure function: (method, path, query, headers, body) -> (status, headers, body).
 * No HTTP server and no AWS types here: the Lambda handler adapts API Gateway events to it, a
 * local runner adapts node:http, and tests call it directly.
 *
 * Routes (docs/contract.md §3 and §4; declared once in routes.ts, which the CDK app's routes also use):
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
import type { z } from "zod";
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
import { matchPath, type RouteHandlerName } from "./routes.ts";
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

/** One request as the route functions see it. */
interface RequestContext {
  readonly request: ApiRequest;
  /** Upper case. */
  readonly method: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly param: (name: string) => string | undefined;
  readonly reader: SliceReader;
  readonly options: ApiRouterOptions;
  readonly now: () => number;
}

/** What a matched path is: its route template (for metrics and logs) and how it is answered. */
interface Resolved {
  readonly template: string;
  run(ctx: RequestContext): Promise<ApiResponse> | ApiResponse;
}

/** A route's function: undefined when the path has the route's shape but names nothing served (404). */
type RouteHandler = (params: Readonly<Record<string, string>>) => Resolved | undefined;

export function createApiRouter(options: ApiRouterOptions): ApiRouter {
  const now = options.now ?? Date.now;
  return (request) =>
    answer({
      request,
      method: request.method.toUpperCase(),
      headers: lowerCaseKeys(request.headers),
      param: queryReader(request.query),
      reader: options.reader,
      options,
      now,
    });
}

/** The route's answer; every error a Status, the unexpected ones reported to onError as 500s. */
async function answer(ctx: RequestContext): Promise<ApiResponse> {
  let route = "unmatched";
  try {
    const segments = pathSegments(ctx.request.path);
    const matched = segments === undefined ? undefined : resolve(segments, ctx.method);
    if (matched === undefined) throw pathNotFound();
    route = `${ctx.method} ${matched.resolved.template}`;
    if (!matched.methodAllowed) throw methodNotAllowed(ctx.method);
    return withRoute(await matched.resolved.run(ctx), route);
  } catch (error) {
    if (error instanceof StatusError) return statusResponse(error.status, route);
    ctx.options.onError?.(error, route);
    return statusResponse(toInternalError("the server could not complete the request").status, route);
  }
}

/**
 * The route table's answer for a path (API_ROUTES): the path's route, resolved by the entry for
 * the request's method when there is one (otherwise by the path's first entry, and the method is
 * not allowed: 405).
 */
function resolve(
  segments: readonly string[],
  method: string,
): { resolved: Resolved; methodAllowed: boolean } | undefined {
  const matches = matchPath(segments);
  const chosen = matches.find((m) => m.route.method === method) ?? matches[0];
  if (chosen === undefined) return undefined;
  const resolved = ROUTE_HANDLERS[chosen.route.handler](chosen.params);
  return resolved === undefined ? undefined : { resolved, methodAllowed: chosen.route.method === method };
}

const ROUTE_HANDLERS: Readonly<Record<RouteHandlerName, RouteHandler>> = {
  root: () => ({ template: "/", run: () => json(200, rootPaths()) }),
  health: () => ({ template: "/healthz", run: health }),
  coreVersions: () => ({ template: "/api", run: (ctx) => json(200, apiVersions(ctx.headers.host ?? "")) }),
  coreResources: ({ version }) =>
    version === "v1" ? { template: "/api/v1", run: () => json(200, coreResourceList()) } : undefined,
  namespace: ({ version, namespace }) =>
    version === "v1"
      ? {
          template: "/api/v1/namespaces/{namespace}",
          run: (ctx) => namespaceObject(ctx, namespace as string),
        }
      : undefined,
  groups: () => ({ template: "/apis", run: () => json(200, apiGroupList()) }),
  group: ({ group = "" }) => {
    const document = apiGroup(group);
    return document === undefined
      ? undefined
      : { template: `/apis/${group}`, run: () => json(200, document) };
  },
  groupResources: ({ group = "", version = "" }) => {
    const resources = apiGroup(group) === undefined ? undefined : apiResourceList(group, version);
    return resources === undefined
      ? undefined
      : { template: `/apis/${group}/${version}`, run: () => json(200, resources) };
  },
  list: (params) => {
    const resource = servedResource(params);
    if (resource === undefined) return undefined;
    return {
      template: `${groupPath(resource)}/${resource.plural}`,
      run: (ctx) => list(ctx, resource, undefined),
    };
  },
  get: (params) => {
    const resource = servedResource(params);
    if (resource === undefined || resource.namespaced) return undefined;
    return {
      template: `${groupPath(resource)}/${resource.plural}/{name}`,
      run: (ctx) => getObject(ctx, resource, undefined, params.name as string),
    };
  },
  listNamespaced: (params) => {
    const resource = servedResource(params);
    if (resource === undefined || !resource.namespaced) return undefined;
    return {
      template: `${groupPath(resource)}/namespaces/{namespace}/${resource.plural}`,
      run: (ctx) => list(ctx, resource, params.namespace as string),
    };
  },
  getNamespaced: (params) => {
    const resource = servedResource(params);
    if (resource === undefined || !resource.namespaced) return undefined;
    return {
      template: `${groupPath(resource)}/namespaces/{namespace}/${resource.plural}/{name}`,
      run: (ctx) => getObject(ctx, resource, params.namespace as string, params.name as string),
    };
  },
  ipcache: ({ ip }) => ({ template: "/v1/ipcache/{ip}", run: (ctx) => ipcache(ctx, ip as string) }),
  stats: () => ({
    template: "/v1/stats",
    run: async (ctx) => json(200, { ...(await ctx.reader.stats()), ...(await convergence(ctx)) }),
  }),
  registerWatcher: () => ({
    template: "/v1/watchers",
    run: (ctx) => watcherErrorStatus(() => registerWatcher(ctx)),
  }),
  getWatcher: ({ node }) => ({
    template: "/v1/watchers/{node}",
    run: (ctx) => watcherErrorStatus(() => getWatcher(ctx, node as string)),
  }),
  deregisterWatcher: ({ node }) => ({
    template: "/v1/watchers/{node}",
    run: (ctx) => watcherErrorStatus(() => deregisterWatcher(ctx, node as string)),
  }),
  acknowledgeWatcher: ({ node }) => ({
    template: "/v1/watchers/{node}/applied",
    run: (ctx) => watcherErrorStatus(() => acknowledgeWatcher(ctx, node as string)),
  }),
};

/** The served resource a Kubernetes path names (group, version, plural), if any. */
function servedResource(params: Readonly<Record<string, string>>): ApiResource | undefined {
  const { group = "", version = "", resource: plural } = params;
  if (apiGroup(group) === undefined || apiResourceList(group, version) === undefined) return undefined;
  return OUTPUT_KINDS.map((kind) => API_RESOURCES[kind]).find(
    (r) => r.plural === plural && r.group === group && r.version === version,
  );
}

function groupPath(resource: ApiResource): string {
  return `/apis/${resource.group}/${resource.version}`;
}

function health(): ApiResponse {
  return {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache, private" },
    body: "ok",
    route: "",
  };
}

async function list(
  ctx: RequestContext,
  resource: ApiResource,
  namespace: string | undefined,
): Promise<ApiResponse> {
  if (isWatch(ctx)) return watch(ctx, resource, namespace);
  if (namespace !== undefined) validNamespace(namespace);
  const output = negotiate(ctx.headers.accept);
  const listOptions: ListOptions = {
    limit: parseCount("limit", ctx.param("limit"), 15),
    continueToken: emptyToUndefined(ctx.param("continue")),
    labelSelector: parseLabelSelector(ctx.param("labelSelector")),
    fieldSelector: parseFieldSelector(ctx.param("fieldSelector")),
  };
  const includeObject =
    output.table === undefined ? "Metadata" : parseIncludeObject(ctx.param("includeObject"));
  const result = await ctx.reader.list(resource.kind, namespace, listOptions);
  const resourceVersion = listVersion(ctx, result.resourceVersion);
  const metadata =
    result.continueToken === undefined
      ? { resourceVersion }
      : { resourceVersion, continue: result.continueToken };
  if (output.table !== undefined) {
    return json(
      200,
      renderTable(resource.kind, result.items, metadata, {
        nowMs: ctx.now(),
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
  ctx: RequestContext,
  resource: ApiResource,
  namespace: string | undefined,
  name: string,
): Promise<ApiResponse> {
  rejectWatch(ctx);
  if (namespace !== undefined) validNamespace(namespace);
  const nameProblem = objectNameProblem(resource.kind, name);
  if (nameProblem !== undefined) throw invalidName("metadata.name", name, nameProblem);
  const output = negotiate(ctx.headers.accept);
  const includeObject =
    output.table === undefined ? "Metadata" : parseIncludeObject(ctx.param("includeObject"));
  const object = await ctx.reader.get(resource.kind, namespace, name);
  if (object === undefined) throw objectNotFound(resource, name);
  if (output.table !== undefined) {
    const table: Table = renderTable(
      resource.kind as OutputKind,
      [object],
      { resourceVersion: object.metadata.resourceVersion ?? "0" },
      { nowMs: ctx.now(), includeObject, apiVersion: output.table },
    );
    return json(200, table);
  }
  return json(200, object);
}

/**
 * Not a served resource (discovery lists none in v1): kubectl reads it after a NotFound to say
 * whether the object or its namespace is missing, so a known namespace gets a minimal object.
 */
async function namespaceObject(ctx: RequestContext, name: string): Promise<ApiResponse> {
  validNamespace(name);
  if (!(await ctx.reader.namespaceExists(name)))
    throw objectNotFound({ group: "", plural: "namespaces" }, name);
  return json(200, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name },
    status: { phase: "Active" },
  });
}

async function ipcache(ctx: RequestContext, text: string): Promise<ApiResponse> {
  const parsed = parseAddress(text);
  if (parsed === undefined) throw badRequest(`${JSON.stringify(text)} is not an IP address`);
  const entry = await ctx.reader.lookupIP(parsed.address);
  if (entry === undefined)
    throw new StatusError("NotFound", `no live pod has IP ${parsed.address}`, {
      name: parsed.address,
      kind: "ipcache",
    });
  return json(200, entry);
}

function registry(ctx: RequestContext): WatcherRegistry {
  if (ctx.options.watchers === undefined) throw toInternalError("watcher registry not configured");
  return ctx.options.watchers;
}

async function registerWatcher(ctx: RequestContext): Promise<ApiResponse> {
  const watchers = registry(ctx);
  const request = bodyOf(
    ctx,
    watcherRequestSchema,
    '{"node": ..., "zone": ..., "kinds": [...]}',
    "watcher registration",
  );
  return json(201, await watchers.register(request, authorize(ctx, request.node)));
}

/** The owner's GET is its heartbeat; anyone else's (an admin's) only reads. */
async function getWatcher(ctx: RequestContext, node: string): Promise<ApiResponse> {
  const watchers = registry(ctx);
  validNode(node);
  const owner = authorize(ctx, node);
  const registration = owner.admin ? await watchers.get(node) : await watchers.refresh(node, owner);
  if (registration === undefined) throw watcherNotFound(node);
  return json(200, registration);
}

async function deregisterWatcher(ctx: RequestContext, node: string): Promise<ApiResponse> {
  const watchers = registry(ctx);
  validNode(node);
  if (!(await watchers.deregister(node, authorize(ctx, node)))) throw watcherNotFound(node);
  return json(200, successStatus({ name: node, kind: "watchers" }));
}

/** The node's applied watermark (owner only): see shared/api/convergence.ts. */
async function acknowledgeWatcher(ctx: RequestContext, node: string): Promise<ApiResponse> {
  const watchers = registry(ctx);
  validNode(node);
  const { appliedThroughMs } = bodyOf(ctx, watcherAckSchema, '{"appliedThroughMs": ...}', "acknowledgement");
  if (watchers.acknowledge === undefined)
    throw toInternalError("this watcher registry keeps no acknowledgements");
  const applied = await watchers.acknowledge(node, authorize(ctx, node), appliedThroughMs);
  if (applied === undefined) throw watcherNotFound(node);
  ctx.options.onWatcherApplied?.(node, ctx.now() - appliedThroughMs);
  return json(200, applied);
}

/**
 * The request's JSON body as `schema` reads it; otherwise a 400 saying the body's expected shape,
 * or each field's problem (as causes too).
 */
function bodyOf<T>(ctx: RequestContext, schema: z.ZodType<T>, shape: string, what: string): T {
  let body: unknown;
  try {
    body = JSON.parse(ctx.request.body ?? "");
  } catch {
    throw badRequest(`the request body must be a JSON object: ${shape}`);
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const causes = result.error.issues.map((issue) => ({
    reason: "FieldValueInvalid",
    message: issue.message,
    field: issue.path.join(".") || "body",
  }));
  throw badRequest(`invalid ${what}: ${causes.map((c) => `${c.field}: ${c.message}`).join("; ")}`, causes);
}

/** The `convergence` field of /v1/stats, when the registry keeps acknowledgements. */
async function convergence(ctx: RequestContext): Promise<{ convergence?: FleetConvergence }> {
  const applied = await ctx.options.watchers?.appliedWatermarks?.();
  return applied === undefined ? {} : { convergence: fleetConvergence(applied, ctx.now()) };
}

function authorize(ctx: RequestContext, node: string): WatcherOwner {
  const decision = authorizeWatcherCaller(
    ctx.options.watcherAuthorization ?? OPEN_POLICY,
    ctx.request.callerArn,
    node,
  );
  if (!decision.allowed)
    throw new StatusError("Forbidden", decision.message, { name: node, kind: "watchers" });
  return decision.owner;
}

function isWatch(ctx: RequestContext): boolean {
  return isTrueParameter(ctx.param("watch"));
}

function rejectWatch(ctx: RequestContext): void {
  if (isWatch(ctx))
    throw new StatusError("MethodNotAllowed", "watch is served on lists, not on a single object");
}

/** Where a watch of a list starts (docs/watch.md); a server without watch keeps the items' highest. */
function listVersion(ctx: RequestContext, highest: string): string {
  return ctx.options.watch === undefined ? highest : listResourceVersion(highest, ctx.now());
}

async function watch(
  ctx: RequestContext,
  resource: ApiResource,
  namespace: string | undefined,
): Promise<ApiResponse> {
  const watching = ctx.options.watch;
  if (watching === undefined)
    throw new StatusError(
      "MethodNotAllowed",
      "watch is not configured on this server: register a watcher (POST /v1/watchers) to receive changes",
    );
  if (namespace !== undefined) validNamespace(namespace);
  const output = negotiate(ctx.headers.accept);
  const labelSelector = parseLabelSelector(ctx.param("labelSelector"));
  const fieldSelector = parseFieldSelector(ctx.param("fieldSelector"));
  const version = emptyToUndefined(ctx.param("resourceVersion"));
  if (version !== undefined && !/^[0-9]{1,20}$/.test(version))
    throw badRequest(`resourceVersion: must be a decimal number, not ${JSON.stringify(version)}`);
  const startMs = ctx.now();
  const deadlineMs = watchDeadline(ctx, watching, startMs);
  const start = await watchStart(
    ctx,
    resource,
    namespace,
    { labelSelector, fieldSelector },
    version,
    startMs,
  );
  const plan: WatchPlan = {
    kind: resource.kind,
    apiVersion: resource.groupVersion,
    namespace,
    labelSelector,
    fieldSelector,
    ...start,
    // A Table watch (kubectl get -w) gets rows only: a bookmark is no row.
    bookmarks: isTrueParameter(ctx.param("allowWatchBookmarks")) && output.table === undefined,
    deadlineMs,
    endWhenEventsSent: ctx.request.watchMode !== "stream",
    signal: ctx.request.signal,
  };
  const events = watchEvents(plan, {
    log: watching.log,
    pollIntervalMs: watching.pollIntervalMs ?? 500,
    replayMarginMs: WATCH_REPLAY_MARGIN_MS,
    bookmarkIntervalMs: BOOKMARK_INTERVAL_MS,
    now: ctx.now,
    sleep: watching.sleep ?? ((ms) => abortableSleep(ms, ctx.request.signal)),
  });
  return {
    status: 200,
    headers: { ...JSON_HEADERS },
    body: "",
    route: "",
    chunks: mapLines(events, watchLineRenderer(ctx, resource, output.table)),
  };
}

/** When a watch ends: its window (long poll or stream), the client's timeoutSeconds, the request's deadline. */
function watchDeadline(ctx: RequestContext, watching: WatchOptions, startMs: number): number {
  const timeoutSeconds = parseCount("timeoutSeconds", ctx.param("timeoutSeconds"), 9);
  const window =
    ctx.request.watchMode === "stream"
      ? (watching.streamWindowMs ?? 30 * 60_000)
      : (watching.longPollWindowMs ?? 25_000);
  return Math.min(
    startMs + window,
    timeoutSeconds === undefined ? Number.POSITIVE_INFINITY : startMs + timeoutSeconds * 1000,
    ctx.request.deadlineMs ?? Number.POSITIVE_INFINITY,
  );
}

/**
 * Where a watch starts. Unset or 0: the current state as ADDED events, then what follows (the
 * apiserver's way). Otherwise from the given version, if the change log still reaches back to it.
 */
async function watchStart(
  ctx: RequestContext,
  resource: ApiResource,
  namespace: string | undefined,
  selectors: Pick<ListOptions, "labelSelector" | "fieldSelector">,
  version: string | undefined,
  startMs: number,
): Promise<{ from: string; initial: OutputObject[] | undefined }> {
  if (version === undefined || /^0+$/.test(version)) {
    const initial: OutputObject[] = [];
    let continueToken: string | undefined;
    let highest = "0";
    do {
      const page = await ctx.reader.list(resource.kind, namespace, { ...selectors, continueToken });
      initial.push(...page.items);
      if (compareResourceVersions(page.resourceVersion, highest) > 0) highest = page.resourceVersion;
      continueToken = page.continueToken;
    } while (continueToken !== undefined);
    return { from: listVersion(ctx, highest), initial };
  }
  const oldestKeptMicros = BigInt(Math.floor(startMs - CHANGE_LOG_RETENTION_MS)) * 1000n;
  if (BigInt(version) < oldestKeptMicros)
    throw new StatusError(
      "Expired",
      `too old resource version: ${version} (changes are kept for ${CHANGE_LOG_RETENTION_MS / 60_000} minutes)`,
    );
  return { from: version, initial: undefined };
}

/** A watch event as a JSON line: the object itself, or its Table row when a Table was asked for. */
function watchLineRenderer(
  ctx: RequestContext,
  resource: ApiResource,
  table: Table["apiVersion"] | undefined,
): (line: WatchEventLine) => string {
  return (line) => {
    if (table === undefined || line.type === "BOOKMARK") return `${JSON.stringify(line)}\n`;
    const object = renderTable(
      resource.kind,
      [line.object],
      { resourceVersion: line.object.metadata.resourceVersion ?? "0" },
      { nowMs: ctx.now(), includeObject: parseIncludeObject(ctx.param("includeObject")), apiVersion: table },
    );
    return `${JSON.stringify({ type: line.type, object })}\n`;
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

/**
 * A count query parameter (limit, timeoutSeconds): a non-negative integer of at most `maxDigits`
 * digits; absent, empty or 0 mean none (undefined).
 */
function parseCount(name: string, value: string | undefined, maxDigits: number): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (value.length > maxDigits || !/^[0-9]+$/.test(value))
    throw badRequest(`${name}: must be a non-negative integer, not ${JSON.stringify(value)}`);
  const count = Number(value);
  return count === 0 ? undefined : count;
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
