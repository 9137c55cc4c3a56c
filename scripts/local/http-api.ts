/**
 * The HTTP API on 127.0.0.1: each real HTTP request becomes an API Gateway HTTP API event
 * (payload format 2.0) for the API function, with the routeKey and pathParameters of the
 * template's AWS::ApiGatewayV2::Route that API Gateway would pick (most specific first, then
 * $default); the handler does its own routing. IAM authorization is not emulated locally, except
 * for the caller's identity: a request's LOCAL_CALLER_HEADER becomes the IAM authorizer's
 * `requestContext.authorizer.iam.userArn`, so watcher authorization can be exercised locally
 * (API Gateway never reads this header; in AWS the principal comes from the SigV4 signature).
 *
 * A Kubernetes watch (`?watch=true`) goes to the function's streaming entry when it has one, and
 * its events are written as chunks as they come, as a response-streaming function URL would;
 * through API Gateway the same watch is a long poll (docs/watch.md).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from "aws-lambda";
import { isTrueParameter } from "#shared/api/router.ts";

/** The header the local HTTP API turns into the caller's IAM principal ARN. */
export const LOCAL_CALLER_HEADER = "x-sliceline-local-principal";

export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

/** The API's streaming entry: a response whose `chunks` are written as they come. */
export type ApiStreamHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<{
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  chunks?: AsyncIterable<string> | undefined;
}>;

/** Whether a request is a Kubernetes watch (the parameter as the apiserver reads it). */
export function isWatchRequest(query: string): boolean {
  return isTrueParameter(new URLSearchParams(query).get("watch") ?? undefined);
}

/** Writes a streamed result to the response until it ends or the client goes away. */
async function writeStreamed(
  result: Awaited<ReturnType<ApiStreamHandler>>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  response.writeHead(result.statusCode, result.headers);
  if (result.body !== "") response.write(result.body);
  const chunks = result.chunks?.[Symbol.asyncIterator]();
  if (chunks !== undefined) {
    let open = true;
    const closed = () => {
      open = false;
      // Ends the watch's generator after its current wait.
      void chunks.return?.();
    };
    response.once("close", closed);
    request.socket.once("close", closed);
    try {
      while (open) {
        const next = await chunks.next();
        if (next.done === true || !open) break;
        response.write(next.value);
      }
    } catch (error) {
      // A client that went away leaves nothing to answer (the runner may be stopping meanwhile).
      if (open) throw error;
    } finally {
      response.off("close", closed);
    }
  }
  response.end();
}

export interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly routeKey: string;
}

/** "GET /apis/{group}" -> a route; "$default" is kept apart. */
export function parseRouteKeys(routeKeys: readonly string[]): { routes: Route[]; hasDefault: boolean } {
  const routes: Route[] = [];
  let hasDefault = false;
  for (const routeKey of routeKeys) {
    if (routeKey === "$default") {
      hasDefault = true;
      continue;
    }
    const [method, path] = routeKey.split(" ");
    if (method === undefined || path === undefined) continue;
    routes.push({ method, segments: path.split("/").filter((s) => s !== ""), routeKey });
  }
  return { routes, hasDefault };
}

/** API Gateway's choice: exact segments beat variables, longer matches beat shorter, ANY last. */
export function matchRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): { routeKey: string; pathParameters: Record<string, string> } | undefined {
  const segments = path.split("/").filter((s) => s !== "");
  let best: { score: number[]; routeKey: string; pathParameters: Record<string, string> } | undefined;
  for (const route of routes) {
    if (route.method !== method && route.method !== "ANY") continue;
    const parameters: Record<string, string> = {};
    const score: number[] = [];
    let ok = true;
    for (let i = 0; i < route.segments.length; i++) {
      const pattern = route.segments[i] as string;
      const greedy = /^\{(.+)\+\}$/.exec(pattern);
      if (greedy !== null && i === route.segments.length - 1) {
        if (segments.length <= i) ok = false;
        else parameters[greedy[1] as string] = segments.slice(i).map(decodeSegment).join("/");
        score.push(0);
        break;
      }
      const segment = segments[i];
      if (segment === undefined) {
        ok = false;
        break;
      }
      const variable = /^\{(.+)\}$/.exec(pattern);
      if (variable !== null) {
        parameters[variable[1] as string] = decodeSegment(segment);
        score.push(1);
      } else if (pattern === segment) score.push(2);
      else {
        ok = false;
        break;
      }
    }
    const greedyRoute = /\+\}$/.test(route.segments.at(-1) ?? "");
    if (!ok || (!greedyRoute && route.segments.length !== segments.length)) continue;
    score.push(route.method === "ANY" ? 0 : 1);
    if (best === undefined || compareScores(score, best.score) > 0)
      best = { score, routeKey: route.routeKey, pathParameters: parameters };
  }
  return best === undefined ? undefined : { routeKey: best.routeKey, pathParameters: best.pathParameters };
}

/** A percent-decoded path segment; one that is not valid percent-encoding is passed on as it came. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The path and query string of a request target as sent: "//x" is a path here, not a host (as
 * new URL(target, base) would read it), and an absolute-form or "*" target gives its path or "/".
 */
export function splitRequestTarget(target: string | undefined): { path: string; query: string } {
  let text = target ?? "/";
  if (!text.startsWith("/")) {
    try {
      const url = new URL(text);
      text = `${url.pathname}${url.search}`;
    } catch {
      text = "/";
    }
  }
  const mark = text.indexOf("?");
  return mark < 0 ? { path: text, query: "" } : { path: text.slice(0, mark), query: text.slice(mark + 1) };
}

/** Lambda's limit on a synchronous invocation's response; API Gateway answers 500 beyond it. */
export const LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024;

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

const TEXT_TYPES = /^(text\/|application\/(json|.*\+json|xml|x-www-form-urlencoded|yaml))/;

export async function toHttpApiEvent(
  request: IncomingMessage,
  body: Buffer,
  match: { routeKey: string; pathParameters: Record<string, string> },
  apiId: string,
  port: number,
): Promise<APIGatewayProxyEventV2> {
  const target = splitRequestTarget(request.url);
  const searchParams = new URLSearchParams(target.query);
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    if (name === "cookie") cookies.push(...String(value).split(/;\s*/));
    else headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const contentType = headers["content-type"] ?? "";
  const isText = body.length === 0 || TEXT_TYPES.test(contentType);
  const now = new Date();
  const requestId = randomUUID();
  const principal = headers[LOCAL_CALLER_HEADER];
  delete headers[LOCAL_CALLER_HEADER];
  const authorizer =
    principal === undefined || principal === "" ? {} : { authorizer: { iam: localIamAuthorizer(principal) } };
  return {
    version: "2.0",
    routeKey: match.routeKey,
    rawPath: target.path,
    rawQueryString: target.query,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(match.pathParameters).length > 0 ? { pathParameters: match.pathParameters } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId,
      domainName: `127.0.0.1:${port}`,
      domainPrefix: "127",
      http: {
        method: request.method ?? "GET",
        path: target.path,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId,
      routeKey: match.routeKey,
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      ...authorizer,
    },
    ...(body.length > 0
      ? { body: isText ? body.toString("utf8") : body.toString("base64"), isBase64Encoded: !isText }
      : { isBase64Encoded: false }),
  };
}

/** What API Gateway's IAM authorizer puts in payload 2.0's requestContext, for one principal ARN. */
function localIamAuthorizer(userArn: string) {
  const accountId = /^arn:[^:]*:[^:]*::(\d{12}):/.exec(userArn)?.[1] ?? "000000000000";
  return {
    accessKey: "LOCAL",
    accountId,
    callerId: userArn.split("/").at(-1) ?? userArn,
    cognitoIdentity: null,
    principalOrgId: null,
    userArn,
    userId: userArn,
  };
}

export interface HttpApiServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  stop(): Promise<void>;
}

export async function startHttpApi(options: {
  readonly port: number;
  readonly routeKeys: readonly string[];
  readonly handler: ApiHandler;
  /** The function's streaming entry, for watches; without it they go to `handler` as long polls. */
  readonly streamHandler?: ApiStreamHandler | undefined;
  readonly context: () => Context;
  readonly apiId: string;
}): Promise<HttpApiServer> {
  const { routes, hasDefault } = parseRouteKeys(options.routeKeys);
  let port = options.port;
  const server = createServer(async (request, response) => {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const { path } = splitRequestTarget(request.url);
      const match =
        matchRoute(routes, request.method ?? "GET", path) ??
        (hasDefault ? { routeKey: "$default", pathParameters: {} } : undefined);
      if (match === undefined) {
        response.writeHead(404, { "content-type": "application/json" });
        response.end(JSON.stringify({ message: "Not Found" }));
        return;
      }
      const event = await toHttpApiEvent(request, body, match, options.apiId, port);
      if (options.streamHandler !== undefined && isWatchRequest(splitRequestTarget(request.url).query)) {
        await writeStreamed(await options.streamHandler(event, options.context()), request, response);
        return;
      }
      const result = await options.handler(event, options.context());
      if (typeof result === "string" || result === undefined || !("statusCode" in result)) {
        // Payload 2.0: anything but a structured result is a 200 JSON body.
        response.writeHead(200, { "content-type": "application/json" });
        response.end(typeof result === "string" ? result : JSON.stringify(result ?? null));
        return;
      }
      if (Buffer.byteLength(JSON.stringify(result)) > LAMBDA_RESPONSE_LIMIT_BYTES) {
        // Lambda refuses the response ("Response payload size exceeded"), API Gateway answers 500.
        console.error("local API: response over Lambda's 6 MB limit");
        response.writeHead(500, { "content-type": "application/json" });
        response.end(JSON.stringify({ message: "Internal Server Error" }));
        return;
      }
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
      if (result.cookies !== undefined && result.cookies.length > 0) headers["set-cookie"] = result.cookies;
      const payload =
        result.body === undefined
          ? Buffer.alloc(0)
          : Buffer.from(result.body, result.isBase64Encoded === true ? "base64" : "utf8");
      response.writeHead(result.statusCode ?? 200, headers);
      response.end(payload);
    } catch (error) {
      // API Gateway answers a failed integration with 500 {"message":"Internal Server Error"}.
      console.error("local API: handler failed", error);
      if (!response.headersSent) response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ message: "Internal Server Error" }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  port = typeof address === "object" && address !== null ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
