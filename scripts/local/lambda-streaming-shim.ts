/**
 * Lambda response streaming on this machine: a shim of the Node.js runtime's `awslambda` global
 * (streamifyResponse, HttpResponseStream) and a local function URL (`InvokeMode: RESPONSE_STREAM`)
 * that runs a streamified handler export for each HTTP request, so the product's real export is
 * what answers (functions/api/lambda-streaming.ts describes the runtime's side).
 *
 * The bytes are the runtime's: `HttpResponseStream.from` sets the content type
 * `application/vnd.awslambda.http-integration-response` and has the first write put the metadata
 * as JSON and 8 NUL bytes before it; the local function URL reads that prelude back into the HTTP
 * status and headers (`cookies` into set-cookie) and passes the rest through as it comes, with
 * back-pressure. A handler that ends without writing sends no prelude (as in Lambda): answered 200
 * with no body, and warned about.
 *
 * Where it differs from AWS, on purpose:
 *   - No IAM: requests are not signed; LOCAL_CALLER_HEADER sets the IAM authorizer's caller, as on
 *     the local HTTP API.
 *   - A client that goes away destroys the response stream, so the handler can stop (AWS documents
 *     that a streaming function keeps running until it returns or times out).
 *   - At the function's timeout the connection is cut and "Task timed out" logged, as Lambda ends
 *     an invocation; a handler that returns without ending its stream is an error, as the runtime
 *     says ("Response stream is not finished").
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Writable } from "node:stream";
import type { Context } from "aws-lambda";
import type {
  AwsLambdaGlobal,
  HttpResponseMetadata,
  ResponseStream,
  StreamingHandler,
} from "#functions/api/lambda-streaming.ts";
import { type HttpApiServer, toHttpApiEvent } from "./http-api.ts";

export const HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response";
const DEFAULT_CONTENT_TYPE = "application/octet-stream";
const PRELUDE_DELIMITER = Buffer.alloc(8);

const STREAMING = Symbol.for("sliceline.local.streamifyResponse");

type Streamified = StreamingHandler<unknown> & { [STREAMING]?: true };

/**
 * Puts streamifyResponse and HttpResponseStream on `globalThis.awslambda` (unless a runtime already
 * did): call before importing handlers. The object may exist already: @aws/lambda-invoke-store
 * (under Powertools) creates it empty for its InvokeStore, and keeps what it finds.
 */
export function installLambdaStreamingShim(): void {
  const global = globalThis as unknown as { awslambda?: Partial<AwsLambdaGlobal> };
  if (typeof global.awslambda?.streamifyResponse === "function") return;
  global.awslambda ??= {};
  Object.assign(global.awslambda, {
    streamifyResponse: <TEvent>(handler: StreamingHandler<TEvent>) => {
      const streamified: StreamingHandler<TEvent> & { [STREAMING]?: true } = (event, stream, context) =>
        handler(event, stream, context);
      streamified[STREAMING] = true;
      return streamified;
    },
    HttpResponseStream: {
      from(stream, metadata) {
        if (!(stream instanceof LocalResponseStream))
          throw new TypeError("HttpResponseStream.from: not a response stream of the local function URL");
        stream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
        const prelude = JSON.stringify(metadata);
        stream.onBeforeFirstWrite = (write) => {
          write(Buffer.from(prelude));
          write(PRELUDE_DELIMITER);
        };
        return stream;
      },
    },
  } satisfies AwsLambdaGlobal);
}

/** Whether `handler` came out of (the shim's) awslambda.streamifyResponse. */
export function isStreamified(handler: unknown): handler is StreamingHandler<unknown> {
  return typeof handler === "function" && (handler as Streamified)[STREAMING] === true;
}

/** The metadata prelude and what follows it, once the delimiter arrived; undefined before. */
export function splitPrelude(bytes: Buffer): { metadata: HttpResponseMetadata; rest: Buffer } | undefined {
  const at = bytes.indexOf(PRELUDE_DELIMITER);
  if (at < 0) return undefined;
  const metadata = JSON.parse(bytes.subarray(0, at).toString("utf8")) as HttpResponseMetadata;
  if (typeof metadata?.statusCode !== "number") throw new Error("response prelude without a statusCode");
  return { metadata, rest: bytes.subarray(at + PRELUDE_DELIMITER.length) };
}

/**
 * The response stream a streaming handler writes to, as the runtime's: a Writable with a content
 * type settable until the first write and a hook that runs right before it. Its bytes go to `sink`.
 */
export class LocalResponseStream extends Writable implements ResponseStream {
  contentType = DEFAULT_CONTENT_TYPE;
  onBeforeFirstWrite: ((write: (chunk: Buffer) => void) => void) | undefined;
  #started = false;
  readonly #sink: (chunk: Buffer) => Promise<void>;
  readonly #finish: () => Promise<void>;

  constructor(sink: (chunk: Buffer) => Promise<void>, finish: () => Promise<void> = async () => {}) {
    super({ decodeStrings: true });
    this.#sink = sink;
    this.#finish = finish;
  }

  setContentType(contentType: string): void {
    if (this.#started) throw new Error("Cannot set content-type, too late.");
    this.contentType = contentType;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const parts: Buffer[] = [];
    if (!this.#started) {
      this.#started = true;
      this.onBeforeFirstWrite?.((part) => parts.push(part));
    }
    parts.push(chunk);
    this.#sink(Buffer.concat(parts)).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#finish().then(() => callback(), callback);
  }
}

/**
 * Writes what a response stream carries to an HTTP response, as a function URL does: the prelude
 * becomes the status and headers, the rest is the body.
 */
export class FunctionUrlResponse {
  readonly #response: ServerResponse;
  readonly #warn: (message: string) => void;
  #pending: Buffer | undefined;
  #headSent = false;

  constructor(response: ServerResponse, warn: (message: string) => void) {
    this.#response = response;
    this.#warn = warn;
  }

  get headSent(): boolean {
    return this.#headSent;
  }

  /** Bytes from the stream (its content type at that moment); resolves when the client took them. */
  async push(bytes: Buffer, contentType: string): Promise<void> {
    let body = bytes;
    if (!this.#headSent) {
      if (contentType === HTTP_INTEGRATION_CONTENT_TYPE) {
        const buffered = this.#pending === undefined ? bytes : Buffer.concat([this.#pending, bytes]);
        const split = splitPrelude(buffered);
        if (split === undefined) {
          this.#pending = buffered;
          return;
        }
        this.#pending = undefined;
        const headers: Record<string, string | string[]> = { ...split.metadata.headers };
        if (split.metadata.cookies !== undefined && split.metadata.cookies.length > 0)
          headers["set-cookie"] = [...split.metadata.cookies];
        this.#response.writeHead(split.metadata.statusCode, headers);
        body = split.rest;
      } else this.#response.writeHead(200, { "content-type": contentType });
      this.#headSent = true;
      // Headers go out now, before any body: a watch with nothing to say yet is still answered.
      this.#response.flushHeaders();
    }
    if (body.length === 0 || this.#response.write(body)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#response.off("drain", done);
        this.#response.off("close", done);
        resolve();
      };
      this.#response.once("drain", done);
      this.#response.once("close", done);
    });
  }

  /** The stream ended. */
  async end(): Promise<void> {
    if (!this.#headSent) {
      if (this.#pending !== undefined) this.#warn("the response ended inside its prelude");
      else this.#warn("the handler ended its stream without writing: no prelude, so no status or headers");
      this.#response.writeHead(200);
      this.#headSent = true;
    }
    await new Promise<void>((resolve) => this.#response.end(() => resolve()));
  }
}

export interface FunctionUrlOptions {
  /** 0: a free port. */
  readonly port: number;
  /** The function's streaming export (awslambda.streamifyResponse of a handler). */
  readonly handler: StreamingHandler<unknown>;
  /** A fresh invocation context (its remaining time counts from now). */
  readonly context: () => Context;
  /** The function's timeout: the invocation is cut there. */
  readonly timeoutMs: number;
  /** Stands for the URL id in events (`<id>.lambda-url.<region>.on.aws`). */
  readonly urlId: string;
  readonly log?: (line: string) => void;
  readonly onRequest?: () => void;
}

/** A function URL with response streaming on 127.0.0.1, running `handler` in this process. */
export async function startFunctionUrl(options: FunctionUrlOptions): Promise<HttpApiServer> {
  const log = options.log ?? (() => {});
  let port = options.port;
  const server = createServer((request, response) => {
    options.onRequest?.();
    void invoke(request, response).catch((error: unknown) => {
      log(`function URL: ${String(error)}`);
      if (!response.headersSent) {
        response.writeHead(502, { "content-type": "application/json" });
        response.end(JSON.stringify({ message: "Internal Server Error" }));
      } else response.destroy();
    });
  });

  async function invoke(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const event = await toHttpApiEvent(
      request,
      Buffer.concat(chunks),
      { routeKey: "$default", pathParameters: {} },
      options.urlId,
      port,
    );
    const front = new FunctionUrlResponse(response, (message) => log(`function URL: ${message}`));
    const stream: LocalResponseStream = new LocalResponseStream(
      (bytes) => front.push(bytes, stream.contentType),
      () => front.end(),
    );
    // The client went away before the response ended: tell the handler (see the header comment).
    response.once("close", () => {
      if (!response.writableFinished) stream.destroy();
    });
    stream.on("error", () => {});
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      log(
        `function URL: ${event.requestContext.requestId} Task timed out after ${options.timeoutMs / 1000} s`,
      );
      stream.destroy();
      response.destroy();
    }, options.timeoutMs);
    try {
      await options.handler(event, stream, { ...options.context(), awsRequestId: randomUUID() });
      if (timedOut) return;
      // The runtime waits for the stream to finish, and fails an invocation that did not end it.
      if (!stream.writableEnded && !stream.destroyed) throw new Error("Response stream is not finished.");
      if (!stream.destroyed && !stream.writableFinished)
        await new Promise<void>((resolve) => stream.once("finish", resolve).once("close", resolve));
    } finally {
      clearTimeout(timer);
    }
  }

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
