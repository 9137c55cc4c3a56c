/**
 * The API behind a Lambda function URL with response streaming (`InvokeMode: RESPONSE_STREAM`, IAM
 * auth; docs/watch.md): the same router as behind API Gateway, with watches in "stream" mode. The
 * function URL's event is an HTTP API payload 2.0 event, so the request is read the same way
 * (toApiRequest; the caller from `requestContext.authorizer.iam`).
 *
 * Every response goes out through the stream: the status code and headers as the prelude
 * (`awslambda.HttpResponseStream.from`), then the body, then, for a watch, each event line as the
 * router yields it. A watch ends cleanly before the function's time is up (the router's deadline:
 * remaining time minus 2 s, or the client's timeoutSeconds if sooner) with a BOOKMARK when the
 * client allows them; clients then re-watch from the last resourceVersion. A failure after the
 * prelude is reported the apiserver's way, as a watch `ERROR` event carrying a Status; before it,
 * as a Status response.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { ApiResponse, ApiRouter } from "#shared/api/router.ts";
import { internalError } from "#shared/api/status.ts";
import { METRIC } from "#shared/config/metric-names.ts";
import { deadlineOf, toApiRequest } from "./create-handler.ts";
import type { HttpResponseMetadata, ResponseStream, StreamingHandler } from "./lambda-streaming.ts";

export interface FunctionUrlHandlerParts {
  readonly router: ApiRouter;
  readonly logger: Logger;
  /** ApiRequests and ApiLatency (time to the prelude) by route and status, flushed per request. */
  readonly metrics?: Metrics | undefined;
  /** `awslambda.HttpResponseStream.from` (the runtime's; tests hand the local shim's or a fake). */
  readonly httpResponseStream: (stream: ResponseStream, metadata: HttpResponseMetadata) => ResponseStream;
}

/** How a response ended: all of it sent, the client gone, the deadline reached, or an error. */
export type StreamEnd = "complete" | "client-gone" | "deadline" | "error";

/** Ending the stream waits at most this long past the deadline (the function has 2 s left then). */
const END_GRACE_MS = 1_500;

export function createFunctionUrlHandler(
  parts: FunctionUrlHandlerParts,
): StreamingHandler<APIGatewayProxyEventV2> {
  const { router, logger, metrics } = parts;
  return async (event, responseStream, context) => {
    const started = performance.now();
    const deadlineMs = deadlineOf(context);
    logger.addContext(context);
    logger.appendKeys({ correlation_id: event.requestContext?.requestId });
    const abort = new AbortController();
    let method = "";
    let path = "";
    let response: ApiResponse;
    try {
      const request = toApiRequest(event);
      method = request.method;
      path = request.path;
      response = await router({ ...request, watchMode: "stream", deadlineMs, signal: abort.signal });
    } catch (error) {
      logger.error("unexpected error", { error });
      response = {
        status: 500,
        headers: { "content-type": "application/json", "cache-control": "no-cache, private" },
        body: JSON.stringify(internalError("the server could not complete the request").status),
        route: "unmatched",
      };
    }
    const out = new ResponseWriter(
      parts.httpResponseStream(responseStream, { statusCode: response.status, headers: response.headers }),
      deadlineMs,
      () => abort.abort(),
    );
    let ended: StreamEnd = "complete";
    let lines = 0;
    // Always write, an empty body too: the prelude (status, headers) goes out with the first write.
    const open = await out.write(response.body);
    const firstByteMs = performance.now() - started;
    if (!open) ended = out.ending();
    else if (response.chunks !== undefined) {
      const chunks = response.chunks[Symbol.asyncIterator]();
      try {
        for (;;) {
          const next = await chunks.next();
          if (next.done === true) break;
          if (!(await out.write(next.value))) {
            ended = out.ending();
            // Stops the watch's generator (it is between events: nothing else is pending on it).
            abort.abort();
            await chunks.return?.(undefined);
            break;
          }
          lines++;
        }
        if (ended === "complete" && out.closed) ended = "client-gone";
      } catch (error) {
        ended = "error";
        logger.error("watch failed", { route: response.route, error });
        const status = internalError(
          "the watch ended on an error; watch again from the last resourceVersion",
        );
        await out.write(`${JSON.stringify({ type: "ERROR", object: status.status })}\n`);
      }
    }
    await out.end();
    const fields = {
      method,
      path,
      route: response.route,
      status: response.status,
      streamed: response.chunks !== undefined,
      lines,
      ended,
      firstByteMs: round(firstByteMs),
      durationMs: round(performance.now() - started),
    };
    if (response.status >= 500 || ended === "error") logger.error("request failed", fields);
    else logger.info("request", fields);
    if (metrics !== undefined) {
      metrics.addDimensions({ route: response.route, status: String(response.status) });
      metrics.addMetric(METRIC.apiRequests, MetricUnit.Count, 1);
      metrics.addMetric(METRIC.apiLatency, MetricUnit.Milliseconds, firstByteMs);
      metrics.publishStoredMetrics();
    }
    logger.resetKeys();
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * Writes to the response stream with back-pressure, never past the deadline: a write that has to
 * wait for the client waits at most until then. Notices a stream that closed or failed before it
 * was ended (a client gone, where the runtime reports it) and calls `onGone`.
 */
class ResponseWriter {
  readonly #stream: ResponseStream;
  readonly #deadlineMs: number | undefined;
  #gone = false;
  #ending = false;
  readonly #listeners = new Set<() => void>();

  constructor(stream: ResponseStream, deadlineMs: number | undefined, onGone: () => void) {
    this.#stream = stream;
    this.#deadlineMs = deadlineMs;
    const gone = () => {
      if (this.#ending || this.#gone) return;
      this.#gone = true;
      onGone();
      for (const listener of this.#listeners) listener();
    };
    // An 'error' without a listener would throw out of the runtime: every one is a client gone.
    stream.on("error", gone);
    stream.on("close", gone);
  }

  get closed(): boolean {
    return this.#gone || this.#stream.destroyed;
  }

  /** Why writing stopped: the client went away, or the deadline came while waiting for it. */
  ending(): StreamEnd {
    return this.closed ? "client-gone" : "deadline";
  }

  /** false: the client is gone, or the deadline passed while the stream was full. */
  async write(chunk: string): Promise<boolean> {
    if (this.closed || this.#stream.writableEnded) return false;
    if (this.#stream.write(chunk)) return true;
    const drained = await this.#until("drain", this.#deadlineMs);
    return drained && !this.closed;
  }

  /** Ends the stream (unless the client is gone) and waits until it finished, within the grace. */
  async end(): Promise<void> {
    this.#ending = true;
    if (this.closed || this.#stream.writableEnded) return;
    const finished = new Promise<boolean>((resolve) => this.#stream.end(() => resolve(true)));
    const limit =
      this.#deadlineMs === undefined ? undefined : Math.max(Date.now(), this.#deadlineMs) + END_GRACE_MS;
    await Promise.race([finished, this.#timer(limit)]);
  }

  /** Resolves true on `event`, false when the stream is gone or at `limitMs`. */
  #until(event: string, limitMs: number | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.#stream.off(event, onEvent);
        this.#listeners.delete(onGone);
        resolve(result);
      };
      const onEvent = () => finish(true);
      const onGone = () => finish(false);
      this.#stream.once(event, onEvent);
      this.#listeners.add(onGone);
      if (limitMs !== undefined) timer = setTimeout(() => finish(false), Math.max(0, limitMs - Date.now()));
    });
  }

  #timer(limitMs: number | undefined): Promise<false> {
    if (limitMs === undefined) return new Promise(() => {});
    return new Promise((resolve) =>
      setTimeout(() => resolve(false), Math.max(0, limitMs - Date.now())).unref(),
    );
  }
}
