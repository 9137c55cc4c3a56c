/**
 * Kubernetes `Status` objects (meta/v1), the only shape an error of the API ever has: clients such
 * as kubectl and @kubernetes/client-node read `reason`, `code` and `message` from it, and nothing
 * about the server's internals (no stack, no exception text) ever reaches the body.
 */

export type StatusReason =
  | "BadRequest"
  | "Forbidden"
  | "NotFound"
  | "Expired"
  | "MethodNotAllowed"
  | "NotAcceptable"
  | "Conflict"
  | "TooManyRequests"
  | "InternalError";

export interface StatusCause {
  readonly reason?: string;
  readonly message: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

export interface KubeStatus {
  readonly kind: "Status";
  readonly apiVersion: "v1";
  readonly metadata: Record<string, never>;
  readonly status: "Success" | "Failure";
  readonly message?: string;
  readonly reason?: StatusReason;
  readonly details?: StatusDetails;
  readonly code: number;
}

const CODES: Record<StatusReason, number> = {
  BadRequest: 400,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  Conflict: 409,
  Expired: 410,
  TooManyRequests: 429,
  InternalError: 500,
};

/** An error that carries the Status the API answers with. Anything else thrown becomes a 500. */
export class StatusError extends Error {
  override name = "StatusError";
  readonly status: KubeStatus;

  constructor(reason: StatusReason, message: string, details?: StatusDetails) {
    super(message);
    this.status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details === undefined ? {} : { details }),
      code: CODES[reason],
    };
  }
}

export function successStatus(details: StatusDetails): KubeStatus {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details, code: 200 };
}

export function badRequest(message: string, causes?: readonly StatusCause[]): StatusError {
  return new StatusError("BadRequest", message, causes === undefined ? undefined : { causes });
}

/** The object named does not exist: `<plural>.<group> "<name>" not found`, as the apiserver says it. */
export function objectNotFound(resource: { group: string; plural: string }, name: string): StatusError {
  const qualified = resource.group === "" ? resource.plural : `${resource.plural}.${resource.group}`;
  return new StatusError("NotFound", `${qualified} "${name}" not found`, {
    name,
    group: resource.group,
    kind: resource.plural,
  });
}

/** An unknown path, worded as the apiserver words it. */
export function pathNotFound(): StatusError {
  return new StatusError("NotFound", "the server could not find the requested resource", {});
}

/** A continue token this server cannot resume from: malformed, tampered, or for another query. */
export function expiredContinue(): StatusError {
  return new StatusError(
    "Expired",
    "The provided continue parameter is too old to display a consistent list result. " +
      "You can start a new list without the continue parameter.",
  );
}

export function methodNotAllowed(method: string): StatusError {
  return new StatusError(
    "MethodNotAllowed",
    `the server does not allow this method on the requested resource (${method})`,
  );
}

export function notAcceptable(accept: string): StatusError {
  return new StatusError(
    "NotAcceptable",
    `only application/json and meta.k8s.io Table responses are served, not ${JSON.stringify(accept)}`,
  );
}

export function tooManyRequests(message: string, retryAfterSeconds = 1): StatusError {
  return new StatusError("TooManyRequests", message, { retryAfterSeconds });
}

export function internalError(message: string): StatusError {
  return new StatusError("InternalError", `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });
}
