/**
 * Why a namespace group (or a Node event) could not be applied, as ingest must act on it:
 *
 * - "deterministic": the same events will fail the same way on every attempt (a full identity
 *   range, an item DynamoDB refuses as too large or invalid, bad data reaching code as a
 *   RangeError or TypeError). Retrying only blocks the queue: the events go to the dead-letter
 *   queue at once, with the reason, for an operator to redrive once the cause is fixed.
 * - "transient": the failure belongs to the moment, not to the events (throttling, 5xx, network
 *   errors and timeouts, a transaction cancelled by a conflict, a group commit that kept losing
 *   its race, the write budget handing a commit back). The messages are handed back to SQS as
 *   batch item failures; applying them again is safe.
 * - "unclassified": anything else (a bug, a missing permission, an invariant broken by a crash).
 *   Retried like a transient failure, but dead-lettered with its reason after a few receives
 *   rather than redriven by SQS without one.
 *
 * Errors are recognized by name (and, for the AWS SDK, by its fault and retry markers and Node's
 * network error codes), so the pipeline needs no import of the storage adapters.
 */
export type FailureClass = "deterministic" | "transient" | "unclassified";

/** Service errors that the same request gets again (DynamoDB: an item over 400 KB, an invalid value). */
const DETERMINISTIC_SERVICE_NAMES = new Set([
  "ValidationException",
  "ItemCollectionSizeLimitExceededException",
]);

/** Raised by our own code on what the events hold: a full identity range, an item too large, bad data. */
const DETERMINISTIC_CODE_NAMES = new Set([
  "IdentityExhaustedError",
  "ItemTooLargeError",
  "RangeError",
  "TypeError",
  "SyntaxError",
]);

const TRANSIENT_NAMES = new Set([
  "GroupConflictError",
  "ConditionalWriteError",
  "WriteBudgetExceededError",
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "LimitExceededException",
  "TransactionConflictException",
  "TransactionInProgressException",
  "InternalServerError",
  "InternalFailure",
  "InternalError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "AbortError",
]);

/** Node's socket and DNS errors: the request may not even have reached the service. */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
]);

/** A cancelled transaction whose reasons name an item DynamoDB refuses (transact.ts reports the codes). */
const REFUSED_ITEM_REASONS = /\b(ValidationError|ItemCollectionSizeLimitExceeded)\b/;

interface ErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
  readonly $fault?: unknown;
  readonly $retryable?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

export function classifyFailure(error: unknown): FailureClass {
  if (typeof error !== "object" || error === null) return "unclassified";
  const shape = error as ErrorShape;
  const name = typeof shape.name === "string" ? shape.name : "";
  const status = Number(shape.$metadata?.httpStatusCode);
  // Network first: fetch-style clients wrap a reset socket in a TypeError.
  if (isNetworkError(shape) || isNetworkError(shape.cause)) return "transient";
  if (shape.$retryable !== undefined && shape.$retryable !== null) return "transient";
  if (shape.$fault === "server" || status >= 500 || status === 429 || TRANSIENT_NAMES.has(name)) {
    return "transient";
  }
  if (name === "TransactionFailedError" && REFUSED_ITEM_REASONS.test(String(shape.message))) {
    return "deterministic";
  }
  if (DETERMINISTIC_SERVICE_NAMES.has(name)) return "deterministic";
  // Anything else that came back from a service call says nothing about the events (a denied
  // permission, a response body that would not parse): never dead-letter on it at once.
  if (shape.$metadata !== undefined || "$response" in shape) return "unclassified";
  if (DETERMINISTIC_CODE_NAMES.has(name)) return "deterministic";
  return "unclassified";
}

function isNetworkError(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const code = (value as ErrorShape).code;
  return typeof code === "string" && NETWORK_CODES.has(code);
}

/** "Name: message", short enough for an SQS message attribute. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 2000);
  return String(error).slice(0, 2000);
}
