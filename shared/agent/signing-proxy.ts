/**
 * A local HTTP proxy that SigV4-signs what it forwards, so clients that cannot sign (kubectl, curl,
 * a browser) can use an IAM-auth endpoint: the watch function URL (service `lambda`) or the HTTP
 * API (service `execute-api`). Responses are passed through as they arrive, so a watch streams.
 * `npm run watch-proxy` (scripts/watch-proxy.ts) runs it against a stack's WatchUrl.
 *
 * Forwarded: method, path and query, the body (as text), and the headers that mean something to
 * the API (accept, content-type); hop-by-hop and encoding headers are left out (fetch decodes a
 * compressed answer, so the client gets it plain).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { signingFetch } from "./sigv4-fetch.ts";

/** Request headers passed on (and signed). */
const FORWARDED_REQUEST_HEADERS = ["accept", "content-type"] as const;
/** Response headers not passed back: the proxy's own framing and fetch's decoding replace them. */
const DROPPED_RESPONSE_HEADERS = new Set([
  "connection",
  "content-encoding",
  "content-length",
  "keep-alive",
  "transfer-encoding",
]);

export interface SigningProxyOptions {
  /** Where to forward: an origin (`https://<id>.lambda-url.<region>.on.aws`), any path kept as a prefix. */
  readonly upstream: string;
  readonly region: string;
  /** `lambda` for a function URL, `execute-api` for API Gateway. */
  readonly service: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** 127.0.0.1 port; 0: a free one. */
  readonly port: number;
  readonly fetch?: typeof fetch;
  readonly log?: (line: string) => void;
}

export interface SigningProxy {
  readonly url: string;
  readonly server: Server;
  stop(): Promise<void>;
}

/** The region of a function URL (`<id>.lambda-url.<region>.on.aws`) or an API Gateway URL. */
export function regionOfUrl(url: string): string | undefined {
  return /\.(?:lambda-url|execute-api)\.([a-z0-9-]+)\.(?:on\.aws|amazonaws\.com)/.exec(url)?.[1];
}

export async function startSigningProxy(options: SigningProxyOptions): Promise<SigningProxy> {
  const send = signingFetch({
    region: options.region,
    service: options.service,
    credentials: options.credentials,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const base = new URL(options.upstream);
  const prefix = base.pathname.replace(/\/$/, "");
  const log = options.log ?? (() => {});

  async function forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const abort = new AbortController();
    response.once("close", () => abort.abort());
    const target = `${base.origin}${prefix}${request.url ?? "/"}`;
    const answer = await send(target, {
      method: request.method ?? "GET",
      headers,
      ...(body.length === 0 ? {} : { body: body.toString("utf8") }),
      signal: abort.signal,
    });
    const passed: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!DROPPED_RESPONSE_HEADERS.has(name)) passed[name] = value;
    });
    response.writeHead(answer.status, passed);
    response.flushHeaders();
    if (answer.body !== null)
      for await (const chunk of answer.body as unknown as AsyncIterable<Uint8Array>) {
        if (!response.write(chunk)) await new Promise((resolve) => response.once("drain", resolve));
      }
    response.end();
  }

  const server = createServer((request, response) => {
    forward(request, response).catch((error: unknown) => {
      if ((error as { name?: string }).name === "AbortError") return;
      log(`${request.method} ${request.url}: ${String(error)}`);
      if (!response.headersSent) {
        response.writeHead(502, { "content-type": "application/json" });
        response.end(JSON.stringify({ message: `signing proxy: ${String(error)}` }));
      } else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export class ProxyTargetError extends Error {
  override name = "ProxyTargetError";
}

/**
 * What to proxy, from `cdk deploy --outputs-file` content: the stack's WatchUrl (service `lambda`),
 * or with `api` its ApiUrl (service `execute-api`).
 */
export function proxyTarget(
  outputs: unknown,
  options: {
    readonly stack?: string | undefined;
    readonly api?: boolean;
    readonly region?: string | undefined;
  } = {},
): { upstream: string; region: string; service: string } {
  const output = options.api === true ? "ApiUrl" : "WatchUrl";
  if (typeof outputs !== "object" || outputs === null)
    throw new ProxyTargetError("the outputs are not a JSON object");
  const stacks = Object.entries(outputs as Record<string, unknown>).filter(
    ([name, values]) =>
      typeof values === "object" &&
      values !== null &&
      typeof (values as Record<string, unknown>)[output] === "string" &&
      (options.stack === undefined || name === options.stack),
  );
  if (stacks.length !== 1)
    throw new ProxyTargetError(
      stacks.length === 0
        ? `no stack${options.stack === undefined ? "" : ` ${options.stack}`} with an output ${output} (deployed from an older app?)`
        : `several stacks have ${output} (${stacks.map(([name]) => name).join(", ")}): name one with --stack`,
    );
  const [, values] = stacks[0] as [string, Record<string, unknown>];
  const upstream = String(values[output]);
  const region = regionOfUrl(upstream) ?? options.region;
  if (region === undefined)
    throw new ProxyTargetError(`cannot tell the region of ${upstream}: set AWS_REGION`);
  return { upstream, region, service: options.api === true ? "execute-api" : "lambda" };
}
