/**
 * The Lambda Node.js runtime's `awslambda` global, typed: response streaming for a function URL
 * with `InvokeMode: RESPONSE_STREAM` (docs/watch.md). No package declares it; the runtime defines it
 * before it loads the handler module, so `streamifyResponse` must be called at module load (the
 * runtime recognizes a streaming handler by a mark the call puts on the function it returns).
 *
 * What the runtime does, as its source (aws-lambda-nodejs-runtime-interface-client) and AWS's docs
 * describe it:
 *   - `streamifyResponse(handler)` has the runtime call `handler(event, responseStream, context)`
 *     and wait for the returned promise and for the stream to finish; the handler must end it.
 *   - `HttpResponseStream.from(stream, { statusCode, headers, cookies })` sets the stream's content
 *     type to `application/vnd.awslambda.http-integration-response` and, right before the first
 *     write, writes the metadata as JSON followed by 8 NUL bytes: the function URL turns that
 *     prelude into the HTTP status line and headers. Nothing written means no prelude, so a
 *     response always writes at least once (an empty string will do).
 *
 * Outside Lambda (tests, the API Gateway function's own module load) the global is absent and
 * `streamifyResponse` gives a handler that fails when called; the local runner installs a shim of
 * the global (scripts/local/lambda-streaming-shim.ts) before it imports the handler modules.
 */
import type { Context } from "aws-lambda";

/** The writable the runtime hands a streaming handler (a subset of node:stream's Writable). */
export interface ResponseStream {
  write(chunk: string | Uint8Array, callback?: (error?: Error | null) => void): boolean;
  end(callback?: () => void): unknown;
  setContentType(contentType: string): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
}

/** The prelude of an HTTP response on a response stream. */
export interface HttpResponseMetadata {
  readonly statusCode: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cookies?: readonly string[];
}

export type StreamingHandler<TEvent> = (
  event: TEvent,
  responseStream: ResponseStream,
  context: Context,
) => Promise<void>;

export interface AwsLambdaGlobal {
  streamifyResponse<TEvent>(
    handler: StreamingHandler<TEvent>,
    options?: { readonly highWaterMark?: number },
  ): StreamingHandler<TEvent>;
  readonly HttpResponseStream: {
    from(stream: ResponseStream, metadata: HttpResponseMetadata): ResponseStream;
  };
}

/**
 * The runtime's global, when this process runs in Lambda's Node.js runtime (or under the local
 * shim). @types/aws-lambda declares `awslambda` as always there, which it is not outside Lambda;
 * hence this accessor, and the narrower stream type above (what the runtime's stream offers).
 */
export function awslambdaGlobal(): AwsLambdaGlobal | undefined {
  // Not just "is it there": @aws/lambda-invoke-store (under Powertools) sets `awslambda` to {}
  // wherever it loads, for its own InvokeStore.
  const candidate = (globalThis as unknown as { awslambda?: Partial<AwsLambdaGlobal> }).awslambda;
  return typeof candidate?.streamifyResponse === "function" && candidate.HttpResponseStream !== undefined
    ? (candidate as AwsLambdaGlobal)
    : undefined;
}

/** `awslambda.streamifyResponse(handler)`, or a handler that says why it cannot run here. */
export function streamifyResponse<TEvent>(handler: StreamingHandler<TEvent>): StreamingHandler<TEvent> {
  const runtime = awslambdaGlobal();
  if (runtime !== undefined) return runtime.streamifyResponse(handler);
  return async () => {
    throw new Error(
      "awslambda.streamifyResponse was not defined when this module loaded: a response-streaming " +
        "handler runs in Lambda's Node.js runtime, or locally under scripts/local/lambda-streaming-shim.ts",
    );
  };
}

/** `awslambda.HttpResponseStream.from`, looked up when a response starts. */
export function httpResponseStream(stream: ResponseStream, metadata: HttpResponseMetadata): ResponseStream {
  const runtime = awslambdaGlobal();
  if (runtime === undefined) throw new Error("awslambda.HttpResponseStream is not defined here");
  return runtime.HttpResponseStream.from(stream, metadata);
}
