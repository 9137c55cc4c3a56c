/**
 * Request timeouts for the SDK clients of the pipeline's handlers. Without them a stalled
 * connection holds an invocation until the function's own timeout, and the batch then waits out
 * the queue's visibility timeout (or holds its stream shard). With them the call fails as a
 * TimeoutError, which the SDK's retry strategy retries like any transient fault. The SDK only
 * logs a warning past `requestTimeout` unless `throwOnRequestTimeout` is set.
 *
 * Not for long polls (ReceiveMessage waits up to 20 s): node agents keep the SDK's defaults.
 */
export const HANDLER_REQUEST_TIMEOUTS = {
  requestHandler: { connectionTimeout: 2_000, requestTimeout: 10_000, throwOnRequestTimeout: true },
} as const;
