/**
 * Fault injection on the wire, for the request-counting proxy (scripts/bench/request-counter.ts)
 * in front of DynamoDB Local and fauxqs: a seeded fraction of the calls the handlers make answer
 * as AWS answers when it throttles or fails, or never answer, or lose their connection.
 *
 * The answers are AWS's own wire formats, so the SDK's retry classification sees what it would in
 * AWS (smithy's service-error-classification: throttling codes, 5xx, ECONNRESET):
 *   - DynamoDB (JSON 1.0): 400 ProvisionedThroughputExceededException / ThrottlingException,
 *     500 InternalServerError, 503 ServiceUnavailable, each a `__type` body;
 *   - SQS (JSON 1.0 since SDK 3.4xx, with the query-compatibility header the SDK reads): the
 *     modelled RequestThrottled (403, as the SDK's model says), 500 InternalFailure;
 *   - SNS (query protocol, XML ErrorResponse): 429 Throttled (the SDK's model), 500 InternalError.
 * A 5xx, a reset and a timeout either happen before the request reaches the backend (nothing done)
 * or after it (done, the answer lost: the SDK's retry then repeats a call that was applied); a
 * throttle is always before, as AWS refuses throttled work.
 *
 * Only calls tagged with CALLER_HEADER are faulted: the system under test (the handlers) tags its
 * calls; the harness (event-source pollers, the test's own clients) does not, since in AWS the
 * event-source poller is AWS's and the test's checks must not fail for the faults they measure.
 */
import type { IncomingHttpHeaders } from "node:http";

/** Set on each HTTP request a handler invocation makes (the function's logical id). */
export const CALLER_HEADER = "x-sliceline-caller";

export const FAULT_KINDS = ["throttle", "serverError", "timeout", "reset"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ProxyFault {
  readonly kind: FaultKind;
  /** The request reaches the backend first (it is applied), then its answer is replaced or lost. */
  readonly afterForward: boolean;
  /** Which of a service's equivalent answers (faultAnswer): 0 or 1. */
  readonly variant: number;
}

/** Decides, per request, whether the proxy injects a fault instead of (or after) forwarding it. */
export interface RequestFaultInjector {
  decide(action: string, headers: IncomingHttpHeaders): ProxyFault | undefined;
}

export interface FaultRates {
  /** Fraction of faultable calls answered by each kind (their sum is the fault rate). */
  readonly throttle: number;
  readonly serverError: number;
  readonly timeout: number;
  readonly reset: number;
}

/** "<service>" -> kind -> faults injected. */
export type FaultCounts = Record<string, Record<FaultKind, number>>;

export interface SeededFaultInjectorOptions {
  /** Uniform in [0, 1): one seeded stream for every decision of this proxy. */
  readonly random: () => number;
  readonly rates: FaultRates;
  /** Calls of these callers (CALLER_HEADER) are faulted; others pass. */
  readonly callers: ReadonlySet<string>;
  /** Services (the action's prefix: dynamodb, sqs, sns) faulted; default all. */
  readonly services?: ReadonlySet<string>;
}

export class SeededFaultInjector implements RequestFaultInjector {
  readonly counts: FaultCounts = {};
  /** Faultable calls seen, per service. */
  readonly calls: Record<string, number> = {};
  readonly #options: SeededFaultInjectorOptions;
  enabled = true;

  constructor(options: SeededFaultInjectorOptions) {
    this.#options = options;
  }

  decide(action: string, headers: IncomingHttpHeaders): ProxyFault | undefined {
    const caller = headers[CALLER_HEADER];
    if (!this.enabled || typeof caller !== "string" || !this.#options.callers.has(caller)) return undefined;
    const service = action.split(":")[0] ?? "unknown";
    if (this.#options.services !== undefined && !this.#options.services.has(service)) return undefined;
    this.calls[service] = (this.calls[service] ?? 0) + 1;
    const { random, rates } = this.#options;
    let draw = random();
    const afterForward = random() < 0.5;
    const variant = random() < 0.5 ? 0 : 1;
    for (const kind of FAULT_KINDS) {
      if (draw < rates[kind]) {
        const counts = this.counts[service] ?? { throttle: 0, serverError: 0, timeout: 0, reset: 0 };
        counts[kind]++;
        this.counts[service] = counts;
        return { kind, afterForward: kind !== "throttle" && afterForward, variant };
      }
      draw -= rates[kind];
    }
    return undefined;
  }
}

export interface FaultAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * AWS's answer to a throttled or failed call of `action` ("dynamodb:PutItem", "sqs:SendMessageBatch",
 * "sns:PublishBatch"); `variant` picks among a service's equivalent answers (0 or 1).
 */
export function faultAnswer(action: string, kind: "throttle" | "serverError", variant: number): FaultAnswer {
  const requestId = crypto.randomUUID();
  const service = action.split(":")[0];
  if (service === "sns") {
    const [status, type, code, message] =
      kind === "throttle"
        ? [429, "Sender", "Throttled", "Rate exceeded"]
        : [500, "Receiver", "InternalError", "An internal error occurred"];
    return {
      status,
      headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
      body:
        `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${type}</Type>` +
        `<Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    };
  }
  if (service === "sqs") {
    const [status, type, code, message] =
      kind === "throttle"
        ? [403, "Sender", "RequestThrottled", "Request is throttled."]
        : [500, "Receiver", "InternalFailure", "We encountered an internal error. Please try again."];
    return {
      status,
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amzn-requestid": requestId,
        "x-amzn-query-error": `${code};${type}`,
      },
      body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }),
    };
  }
  const [status, type, message] =
    kind === "throttle"
      ? variant === 0
        ? [
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
          ]
        : [
            400,
            "com.amazon.coral.availability#ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
          ]
      : variant === 0
        ? [500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"]
        : [503, "com.amazon.coral.availability#ServiceUnavailableException", "Service unavailable"];
  return {
    status,
    headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": requestId },
    body: JSON.stringify({ __type: type, message }),
  };
}
