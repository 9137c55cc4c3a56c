/**
 * The Powertools objects of a handler, built the same way for every function (as in Powertools'
 * own reference app): call once at module scope, so a warm container reuses them.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import { METRICS_NAMESPACE } from "#shared/config/metric-names.ts";
import type { ServiceName } from "#shared/config/service-names.ts";

export interface Powertools {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

export function createPowertools(
  serviceName: ServiceName,
  options: { readonly correlationIdSearchFn?: (expression: string, data: unknown) => unknown } = {},
): Powertools {
  return {
    logger: new Logger({
      serviceName,
      ...(options.correlationIdSearchFn === undefined
        ? {}
        : { correlationIdSearchFn: options.correlationIdSearchFn }),
    }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName }),
    tracer: new Tracer({ serviceName }),
  };
}

/** One data point per item, from its source time to now (never negative: clocks differ). */
export function addLatencies(metrics: Metrics, name: string, sourceTimesMs: Iterable<number>): void {
  const now = Date.now();
  for (const sourceTimeMs of sourceTimesMs) {
    metrics.addMetric(name, MetricUnit.Milliseconds, Math.max(0, now - sourceTimeMs));
  }
}
