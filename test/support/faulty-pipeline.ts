/**
 * The embedded pipeline with faults on (issue 9's fault suite): DynamoDB Local and fauxqs behind
 * request-counting proxies that inject AWS throttling, 5xx, unanswered calls and connection resets
 * (scripts/local/fault-proxy.ts) into the handlers' calls, handler invocations that crash at random
 * points or time out (invocation-faults.ts), and SQS / stream batches shuffled and delivered twice
 * (delivery-faults.ts). Every decision draws from streams forked from one seed per run, so a run
 * is replayed with its seed (FAULT_SEED=<seed> FAULT_RUNS=1); concurrency still interleaves the
 * calls differently from one replay to the next, so a replay draws the same decisions, not always
 * on the same calls.
 */
import { startCountingProxy } from "#scripts/bench/request-counter.ts";
import { type Backend, startDynamoDbLocal, startFauxqs } from "#scripts/local/backends.ts";
import { type FaultCounts, type FaultRates, SeededFaultInjector } from "#scripts/local/fault-proxy.ts";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";
import { type DeliveryFaultCounts, SeededDeliveryFaults } from "#test/support/delivery-faults.ts";
import { type InvocationFaultCounts, InvocationFaults } from "#test/support/invocation-faults.ts";
import { SeededRandom } from "#test/support/seeded-random.ts";

export interface FaultSettings {
  /** Fraction of the handlers' AWS calls faulted (split among the kinds by FAULT_SHARES). */
  readonly rate: number;
  /** Fraction of ingest and fan-out invocations that crash. */
  readonly crashRate: number;
  /** Fraction of SQS and stream batches delivered twice. */
  readonly redeliveryRate: number;
  /** The runner's log (handler errors of failed invocations among others). */
  readonly log?: (line: string) => void;
}

/**
 * How the call fault rate splits: mostly throttling (the common fault in AWS), some 5xx and
 * resets, few unanswered calls (each costs a whole function timeout and a visibility timeout).
 */
export const FAULT_SHARES: FaultRates = { throttle: 0.55, serverError: 0.25, reset: 0.15, timeout: 0.05 };

/** The functions whose calls are faulted and whose invocations crash: the write path. */
const FAULTED_FUNCTIONS = new Set<string>([LOGICAL_IDS.ingestFunction, LOGICAL_IDS.fanoutFunction]);

/**
 * Short timeouts so a crashed or timed-out invocation comes back soon (visibility 6 × 5 s);
 * zones as the trace's nodes have them.
 */
export const FAULT_CONTEXT = {
  ingestTimeoutSeconds: 5,
  ingestBatchWindowSeconds: 1,
  ingestBatchSize: 50,
  fanoutTimeoutSeconds: 10,
  zones: "zone-0,zone-1,zone-2",
};

export interface FaultTotals {
  readonly calls: Record<string, number>;
  readonly proxy: FaultCounts;
  readonly invocations: InvocationFaultCounts;
  readonly deliveries: DeliveryFaultCounts;
}

export interface FaultyPipeline {
  readonly runner: LocalRunner;
  /** New decision streams for the next run, forked from its seed. */
  reseed(seed: number): void;
  /** Faults injected so far (cumulative; diff two snapshots for one run). */
  totals(): FaultTotals;
  /** Faults off (for the checks after a run) or on. */
  setEnabled(enabled: boolean): void;
  stop(): Promise<void>;
}

export async function startFaultyPipeline(settings: FaultSettings, seed: number): Promise<FaultyPipeline> {
  let random = new SeededRandom(seed);
  const streams = () => ({
    dynamodb: random.fork("dynamodb-proxy"),
    messaging: random.fork("messaging-proxy"),
  });
  let current = streams();
  const rates = (share: FaultRates): FaultRates => ({
    throttle: share.throttle * settings.rate,
    serverError: share.serverError * settings.rate,
    reset: share.reset * settings.rate,
    timeout: share.timeout * settings.rate,
  });
  const dynamodbFaults = new SeededFaultInjector({
    random: () => current.dynamodb.next(),
    rates: rates(FAULT_SHARES),
    callers: FAULTED_FUNCTIONS,
  });
  const messagingFaults = new SeededFaultInjector({
    random: () => current.messaging.next(),
    rates: rates(FAULT_SHARES),
    callers: FAULTED_FUNCTIONS,
  });
  const invocations = new InvocationFaults({
    random,
    crashRate: settings.crashRate,
    functions: FAULTED_FUNCTIONS,
  });
  const deliveries = new SeededDeliveryFaults(random, settings.redeliveryRate);

  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const dynamodbBackend: Backend = await startDynamoDbLocal();
    started.push(dynamodbBackend);
    const sqsBackend: Backend = await startFauxqs();
    started.push(sqsBackend);
    const dynamodbProxy = await startCountingProxy(dynamodbBackend.endpoint, { faults: dynamodbFaults });
    started.push(dynamodbProxy);
    const sqsProxy = await startCountingProxy(sqsBackend.endpoint, { faults: messagingFaults });
    started.push(sqsProxy);
    const runner = await startLocalRunner({
      dynamodbEndpoint: dynamodbProxy.endpoint,
      sqsEndpoint: sqsProxy.endpoint,
      context: FAULT_CONTEXT,
      logLevel: "SILENT",
      maxPollersPerQueue: 4,
      ...(settings.log === undefined ? {} : { log: settings.log }),
      wrapHandler: invocations.wrap,
      deliveryFaults: deliveries,
    });
    return {
      runner,
      reseed(next) {
        random = new SeededRandom(next);
        current = streams();
        invocations.reseed(random);
        deliveries.reseed(random);
      },
      totals: () => ({
        calls: mergeCalls(dynamodbFaults.calls, messagingFaults.calls),
        proxy: structuredClone({ ...dynamodbFaults.counts, ...messagingFaults.counts }),
        invocations: structuredClone(invocations.counts),
        deliveries: { ...deliveries.counts },
      }),
      setEnabled(next) {
        dynamodbFaults.enabled = next;
        messagingFaults.enabled = next;
        invocations.enabled = next;
        deliveries.enabled = next;
      },
      async stop() {
        invocations.dispose();
        await runner.stop({ keepBackends: true });
        for (const service of started.reverse()) await service.stop().catch(() => {});
      },
    };
  } catch (error) {
    invocations.dispose();
    for (const service of started.reverse()) await service.stop().catch(() => {});
    throw error;
  }
}

function mergeCalls(...parts: Array<Record<string, number>>): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const part of parts) for (const [service, n] of Object.entries(part)) merged[service] = n;
  return merged;
}
