/**
 * The live pass: the trace through the real pipeline on the embedded local stack, received by a
 * fleet of real watcher agents, measured end to end.
 *
 *   producer     the trace's events at their times, `{"events": [...]}` bodies stamped with the
 *                scheduled source time (so producer lag counts as latency, not as free time)
 *   pipeline     startLocalRunner: the real ingest / fan-out / API handlers on DynamoDB Local + fauxqs,
 *                event sources and settings from the synthesized template; fauxqs in a process of
 *                its own, so the fleet's receives do not queue behind the handlers
 *   counting     proxies in front of DynamoDB Local and fauxqs count every request the pipeline makes
 *   fleet        N agents in worker threads (fleet-shards.ts), zones round robin, each long-polling
 *                its own queue
 *   truth        after the trace, a fresh agent per view lists the API; every fleet member must
 *                reach the same digest
 *   attribution  per applied change: source → in the agent's queue (SQS SentTimestamp) → received →
 *                applied; and who used the cores meanwhile (cpu-accounting.ts)
 */
import { availableParallelism } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBStreamEvent } from "aws-lambda";
import type { StrategyResult, Trace, TraceEvent } from "#scripts/bench/types.ts";
import { startDynamoDbLocal, startFauxqs } from "#scripts/local/backends.ts";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import { resourcesOfType } from "#scripts/local/template.ts";
import { DEFAULT_SNAPSHOT_INTERVAL_MS } from "#shared/agent/node-agent.ts";
import { type CpuShare, cpuBetween, sampleCpu } from "./cpu-accounting.ts";
import { FanoutTally } from "./fanout-tally.ts";
import type { RestartReport } from "./fleet.ts";
import { type FleetSettleReport, FleetShards } from "./fleet-shards.ts";
import type { FleetSqsClientKind } from "./fleet-worker.ts";
import { type CountingProxy, type RequestCounts, startCountingProxy } from "./request-counter.ts";
import type { KeyedWriteUnits, TableWriteLayout } from "./write-units.ts";

/**
 * The fleet's threads run below the pipeline, fauxqs and DynamoDB Local: in AWS each agent has a
 * node of its own, so its CPU never delays the pipeline; on two shared cores it would. 5, not more:
 * at 10 the agents' own receives fell behind in bursts (1,000 agents: in-queue p99 2.6 s, against
 * 0.5–1.8 s at 5).
 */
const DEFAULT_FLEET_NICE = 5;

/**
 * One worker thread per 250 agents, at most one per core: more threads than cores only add
 * context switches (1,000 agents on 2 cores: 4 threads gave p99 3.5–5.9 s, 2 threads 2.4 s).
 */
function defaultFleetWorkers(watchers: number): number {
  return Math.max(1, Math.min(availableParallelism(), Math.ceil(watchers / 250)));
}

export interface LivePassOptions {
  readonly trace: Trace;
  readonly watchers: number;
  readonly zoneOnly: boolean;
  /** Worker threads the fleet is split over (default: one per 250 agents, at most one per core). */
  readonly fleetWorkers?: number;
  /** The agents' SQS client (default: the thin one, fleet-sqs-client.ts). */
  readonly fleetSqsClient?: FleetSqsClientKind;
  /** Module exporting `createLiveWatcher(input: WatcherFactoryInput): LiveWatcher` (loaded in the fleet's worker). */
  readonly factoryModule: string;
  /** CDK context for the synth (batch windows, zones are set from the scenario). */
  readonly context?: Record<string, unknown>;
  readonly waitSeconds?: number;
  /**
   * The agents delete in batches every this many seconds, as the node agent with a state directory
   * (its default: every snapshot, DEFAULT_SNAPSHOT_INTERVAL_MS); 0: after every receive, as without one.
   */
  readonly deleteIntervalSeconds?: number;
  /** Nice value of the fleet's worker threads (default 10; 0 gives them the pipeline's priority). */
  readonly fleetNice?: number;
  readonly settleTimeoutMs?: number;
  readonly progress?: (stage: string, done: number, total: number) => void;
  readonly log?: (line: string) => void;
}

export interface LivePassDetails {
  readonly requests: RequestCounts;
  readonly sqsRequests: RequestCounts;
  readonly lambda: {
    readonly ingestInvocations: number;
    readonly fanoutInvocations: number;
    /** Fan-out invocations that carried only records delivered before (retried stream batches). */
    readonly fanoutRetriedInvocations: number;
    /**
     * Stream batches per ingest batch: the model assumes one; the local stream poller (4 polls a
     * second per shard, batching window 0, as Lambda's) splits a batch whose transactions straddle polls.
     */
    readonly fanoutInvocationsPerIngestInvocation: number;
    readonly ingestMs: number;
    readonly fanoutMs: number;
    readonly memoryMb: Readonly<Record<string, number>>;
    readonly maxHeapUsedMb: number;
    /** Peak RSS of this process (handlers, runner, the fleet's workers; fauxqs runs apart) while measuring. */
    readonly maxRssMb: number;
  };
  readonly restart?: RestartReport;
  /** Where the propagation time went, per applied change (FleetSettleReport.stages). */
  readonly stages: FleetSettleReport["stages"];
  readonly fleetWorkers: number;
  /** Who used the cores from the start of the replay until the pipeline was idle. */
  readonly cpu: CpuShare;
  readonly joinMs: number;
  readonly producerLagMaxMs: number;
  readonly pollErrors: number;
  readonly fleetHeapUsedMb: number;
  readonly gapsRefetched: number;
  readonly settleMs: number;
}

/**
 * A watch forwarder's flush interval: events of one tick share a message and its source time (the
 * earliest, so the tick counts as latency). 50 ms doubled the messages and, measured, tripled the
 * ingest time per batch on this machine (p99 3.9 s against 1.9 s).
 */
const PRODUCER_TICK_MS = 100;
const EVENTS_PER_MESSAGE = 50;

export async function runLivePass(
  options: LivePassOptions,
): Promise<{ result: StrategyResult; details: LivePassDetails }> {
  const { trace } = options;
  const log = options.log ?? (() => {});
  const progress = options.progress ?? (() => {});
  const dynamodbBackend = await startDynamoDbLocal();
  // fauxqs in its own process: the fleet's receives and deletes do not queue behind the handlers.
  const sqsBackend = await startFauxqs(0, { isolated: true });
  const dynamodbProxy = await startCountingProxy(dynamodbBackend.endpoint);
  const sqsProxy = await startCountingProxy(sqsBackend.endpoint);
  const timing = { ingestMs: 0, ingestInvocations: 0 };
  // Object writes are the distinct stream records: a retried batch's records are not counted again.
  const fanout = new FanoutTally();
  let measuring = false;
  const peak = { rss: 0, heap: 0 };
  let runner: LocalRunner | undefined;
  let fleet: FleetShards | undefined;
  try {
    runner = await startLocalRunner({
      dynamodbEndpoint: dynamodbProxy.endpoint,
      sqsEndpoint: sqsProxy.endpoint,
      context: { zones: trace.scenario.zones.join(","), ...options.context },
      logLevel: "SILENT",
      wrapHandler:
        (id, handler) =>
        async (...args: never[]) => {
          const started = performance.now();
          try {
            return await handler(...args);
          } finally {
            if (measuring) {
              const elapsed = performance.now() - started;
              if (id === "IngestFunction") {
                timing.ingestMs += elapsed;
                timing.ingestInvocations++;
              } else if (id === "FanoutFunction") {
                fanout.add(args[0] as DynamoDBStreamEvent | undefined, elapsed);
              }
            }
          }
        },
      log,
    });
    const ingestQueueUrl = runner.config.sqs.ingestQueueUrl;
    dynamodbProxy.setWriteLayouts(writeLayouts(runner));

    // Initial load, as fast as the pipeline takes it: the fleet joins a populated cluster.
    const initial = trace.events.slice(0, trace.measuredFrom);
    progress("initial load", 0, initial.length);
    for (let i = 0; i < initial.length; i += 500) {
      await sendTraceEvents(runner.sqs, ingestQueueUrl, initial.slice(i, i + 500), Date.now());
      progress("initial load", Math.min(i + 500, initial.length), initial.length);
    }
    await runner.whenIdle({ timeoutMs: 600_000 });

    // The fleet, in worker threads, with their own SQS clients straight to fauxqs (agents are not
    // part of the pipeline's bill, so they bypass the counting proxy).
    const zones = trace.scenario.zones;
    const deleteIntervalMs =
      options.deleteIntervalSeconds === undefined
        ? DEFAULT_SNAPSHOT_INTERVAL_MS
        : options.deleteIntervalSeconds * 1000;
    fleet = new FleetShards(
      {
        api: runner.config.api,
        sqsEndpoint: sqsBackend.endpoint,
        watchers: options.watchers,
        workers: options.fleetWorkers ?? defaultFleetWorkers(options.watchers),
        zones,
        zoneOnly: options.zoneOnly,
        waitSeconds: options.waitSeconds ?? 5,
        joinConcurrency: 16,
        factoryModule: options.factoryModule,
        sqsClient: options.fleetSqsClient ?? "thin",
        nice: options.fleetNice ?? DEFAULT_FLEET_NICE,
        ...(deleteIntervalMs === 0 ? {} : { deleteIntervalMs }),
      },
      progress,
    );
    const joinMs = await fleet.join();
    await runner.whenIdle({ timeoutMs: 600_000 });
    await sleep(2_000);
    await fleet.resetCounters();
    dynamodbProxy.reset();
    sqsProxy.reset();
    measuring = true;
    const runningFleet = fleet;
    const cpuNow = () =>
      sampleCpu(() => runningFleet.cpuUs(), {
        fauxqs: sqsBackend.pid,
        "DynamoDB Local": dynamodbBackend.pid,
      });
    const cpuAtStart = await cpuNow();
    const memorySampler = setInterval(() => {
      const usage = process.memoryUsage();
      peak.rss = Math.max(peak.rss, usage.rss);
      peak.heap = Math.max(peak.heap, usage.heapUsed);
    }, 250);

    // Replay: every tick, send what is due; a restart phase crashes part of the fleet as it starts.
    const measured = trace.events.slice(trace.measuredFrom);
    const startWall = Date.now() + PRODUCER_TICK_MS;
    let next = 0;
    let producerLagMaxMs = 0;
    let restart: Promise<RestartReport> | undefined;
    const restartPhase = trace.scenario.phases.findIndex((phase) => phase.kind === "watcher-restart");
    while (next < measured.length) {
      const elapsed = Date.now() - startWall;
      const due: TraceEvent[] = [];
      while (next < measured.length && (measured[next] as TraceEvent).atMs <= elapsed)
        due.push(measured[next++] as TraceEvent);
      if (restart === undefined && restartPhase >= 0 && due.some((event) => event.phase === restartPhase)) {
        const phase = trace.scenario.phases[restartPhase];
        if (phase?.kind === "watcher-restart")
          restart = fleet.restart(phase.fraction, {
            baseMs: phase.backoffBaseMs,
            capMs: phase.backoffCapMs,
            maxAttempts: 8,
          });
      }
      if (due.length > 0) {
        producerLagMaxMs = Math.max(producerLagMaxMs, elapsed - (due[0] as TraceEvent).atMs);
        await sendTraceEvents(runner.sqs, ingestQueueUrl, due, startWall);
      }
      progress("replay", next, measured.length);
      await sleep(PRODUCER_TICK_MS);
    }
    const restartReport = restart === undefined ? undefined : await restart;
    await runner.whenIdle({ timeoutMs: 600_000 });
    const cpu = cpuBetween(cpuAtStart, await cpuNow());
    measuring = false;
    clearInterval(memorySampler);

    // Truth: what a fresh agent of each view lists now; the fleet must reach it.
    const report = await fleet.settle(options.settleTimeoutMs ?? 30_000);
    // As the model counts them: objects read from the API (a restarted agent's re-list, gap and
    // reference GETs) are deliveries too, and their bytes are bytes delivered.
    const messages = report.messages + report.objectsRead;
    const bytes = report.bytes + report.bytesRead;
    const podChanges = trace.podChanges;
    const memoryMb = functionMemory(runner);
    const requests = dynamodbProxy.counts;
    const sqsRequests = sqsProxy.counts;
    const perPodChange = (n: number) => (podChanges === 0 ? 0 : n / podChanges);
    const awsRequestsPerPodChange: Record<string, number> = {
      lambdaInvocations: perPodChange(timing.ingestInvocations + fanout.invocations),
      lambdaGbSeconds: perPodChange(
        (timing.ingestMs / 1000) * ((memoryMb.IngestFunction ?? 1024) / 1024) +
          (fanout.ms / 1000) * ((memoryMb.FanoutFunction ?? 512) / 1024),
      ),
      dynamodbWriteUnits: perPodChange(requests.writeUnits),
      dynamodbBusiestKeyWriteUnits: perPodChange(requests.writeUnitsByKey.busiest(1)[0]?.units ?? 0),
      dynamodbReadUnits: perPodChange(requests.readUnits),
      snsPublishRequests: perPodChange(
        (sqsRequests.requests["sns:PublishBatch"] ?? 0) + (sqsRequests.requests["sns:Publish"] ?? 0),
      ),
      sqsPipelineRequests: perPodChange(
        Object.entries(sqsRequests.requests)
          .filter(([action]) => action.startsWith("sqs:"))
          .reduce((sum, [, n]) => sum + n, 0),
      ),
      // Receives that returned messages and delete batches, as the fleet counted them (a receive
      // may return several messages: fewer requests than two per message).
      sqsWatcherReceives: perPodChange(report.queueRequests.receives),
      sqsWatcherDeletes: perPodChange(report.queueRequests.deletes),
    };
    const converged = report.converged;
    const settleMs = report.settleMs;
    const result: StrategyResult = {
      strategy: "sliceline-live",
      description: `the pipeline on the embedded stack (DynamoDB Local + fauxqs), ${options.watchers} agents${options.zoneOnly ? ", zone-only EndpointSlices" : ""}`,
      measurement: "live",
      watchers: options.watchers,
      eventsIn: measured.length,
      podChanges,
      objectWrites: fanout.records,
      deliveries: messages,
      bytesDelivered: bytes,
      deliveriesPerPodChange: perPodChange(messages),
      bytesPerPodChange: perPodChange(bytes),
      peakDeliveriesPerSecond: report.peakMessagesPerSecond,
      latency: report.latency,
      latencyCdf: report.latencyCdf,
      convergedWatchers: converged,
      totalWatchers: options.watchers,
      awsRequestsPerPodChange,
      ...(restartReport === undefined
        ? {}
        : {
            relists: {
              watchers: restartReport.recovered,
              objects: report.objectsRead,
              bytes: report.bytesRead,
            },
          }),
      notes: [
        `fleet of ${options.watchers} agents in ${fleet.workers} worker thread(s) at nice ${options.fleetNice ?? DEFAULT_FLEET_NICE} on the ${options.fleetSqsClient ?? "thin"} SQS client, fauxqs in its own process`,
        `fleet joined in ${joinMs} ms (register + list, 16 at a time)`,
        deleteIntervalMs === 0
          ? "agents delete after every receive (DeleteMessageBatch of what it returned), as the node agent without a state directory"
          : `agents delete in batches every ${deleteIntervalMs / 1000} s (DeleteMessageBatch of up to 10), as the node agent with its default state directory`,
        `producer lag max ${producerLagMaxMs} ms`,
        `DynamoDB write units per pod change on the busiest partition keys: ${perPodChangeOf(requests.writeUnitsByKey.busiest(3), podChanges)}; by kind of key: ${perPodChangeOf(requests.writeUnitsByKey.byKind(), podChanges)}`,
        `settled in ${settleMs} ms after the pipeline went idle`,
        `${fanout.invocations} fan-out invocations for ${timing.ingestInvocations} ingest batches (${(timing.ingestInvocations === 0 ? 0 : fanout.invocations / timing.ingestInvocations).toFixed(2)} per batch; the model counts one stream batch per ingest batch): Lambda's stream polling, like the local poller's (4 polls a second per shard, batching window ${runner.streamSources[0]?.settings.maximumBatchingWindowInSeconds ?? 0} s), splits a batch whose transactions straddle a poll; ${fanout.retriedInvocations} retried`,
      ],
    };
    const gapsRefetched = report.gapsRefetched;
    return {
      result,
      details: {
        requests,
        sqsRequests,
        lambda: {
          ingestInvocations: timing.ingestInvocations,
          fanoutInvocations: fanout.invocations,
          fanoutRetriedInvocations: fanout.retriedInvocations,
          fanoutInvocationsPerIngestInvocation:
            timing.ingestInvocations === 0 ? 0 : fanout.invocations / timing.ingestInvocations,
          ingestMs: timing.ingestMs,
          fanoutMs: fanout.ms,
          memoryMb,
          maxHeapUsedMb: peak.heap / 2 ** 20,
          maxRssMb: peak.rss / 2 ** 20,
        },
        ...(restartReport === undefined ? {} : { restart: restartReport }),
        stages: report.stages,
        fleetWorkers: fleet.workers,
        cpu,
        joinMs,
        producerLagMaxMs,
        pollErrors: report.pollErrors,
        fleetHeapUsedMb: report.heapUsedMb,
        gapsRefetched,
        settleMs,
      },
    };
  } finally {
    if (fleet !== undefined) {
      await fleet.stop().catch(() => {});
      await fleet.terminate();
    }
    await runner?.stop();
    await stopAll([dynamodbProxy, sqsProxy]);
    await sqsBackend.stop();
    await dynamodbBackend.stop();
  }
}

/** Producer batching: `{"events": [...]}` bodies, stamped with the earliest scheduled source time. */
async function sendTraceEvents(
  sqs: SQSClient,
  queueUrl: string,
  events: readonly TraceEvent[],
  startWall: number,
): Promise<void> {
  const bodies: Array<{ body: string; sourceTimeMs: number }> = [];
  for (let i = 0; i < events.length; i += EVENTS_PER_MESSAGE) {
    const chunk = events.slice(i, i + EVENTS_PER_MESSAGE);
    bodies.push({
      body: JSON.stringify({ events: chunk.map((event) => event.event) }),
      sourceTimeMs: startWall + Math.min(...chunk.map((event) => event.atMs)),
    });
  }
  for (let i = 0; i < bodies.length; i += 10) {
    const entries = bodies.slice(i, i + 10).map((entry, j) => ({
      Id: String(j),
      MessageBody: entry.body,
      MessageAttributes: {
        sourceTimeMs: { DataType: "Number", StringValue: String(entry.sourceTimeMs) },
      },
    }));
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if ((sent.Failed ?? []).length > 0)
      throw new Error(`ingest SendMessageBatch failed: ${JSON.stringify(sent.Failed)}`);
  }
}

/** Each table's partition key, the global secondary indexes that copy whole items (ProjectionType ALL) and those of keys only. */
function writeLayouts(runner: LocalRunner): Record<string, TableWriteLayout> {
  const hashKey = (schema: unknown) =>
    String(
      (schema as Array<{ AttributeName?: string; KeyType?: string }>).find((key) => key.KeyType === "HASH")
        ?.AttributeName,
    );
  return Object.fromEntries(
    resourcesOfType(runner.template.template, "AWS::DynamoDB::Table").flatMap(([id, resource]) => {
      const name = runner.config.dynamodb.tables[id];
      if (name === undefined) return [];
      const indexes = (resource.Properties?.GlobalSecondaryIndexes ?? []) as Array<{
        IndexName?: string;
        KeySchema?: unknown;
        Projection?: { ProjectionType?: string };
      }>;
      const layout: TableWriteLayout = {
        partitionKey: hashKey(resource.Properties?.KeySchema ?? []),
        copyingIndexes: indexes
          .filter((index) => index.Projection?.ProjectionType === "ALL")
          .map((index) => ({ name: String(index.IndexName), partitionKey: hashKey(index.KeySchema ?? []) })),
        keyIndexes: indexes
          .filter((index) => index.Projection?.ProjectionType === "KEYS_ONLY")
          .map((index) => ({ name: String(index.IndexName), partitionKey: hashKey(index.KeySchema ?? []) })),
      };
      return [[name, layout]];
    }),
  );
}

function perPodChangeOf(units: readonly KeyedWriteUnits[], podChanges: number): string {
  return units
    .map(({ key, units }) => `${key} ${(podChanges === 0 ? 0 : units / podChanges).toFixed(2)}`)
    .join(", ");
}

function functionMemory(runner: LocalRunner): Record<string, number> {
  return Object.fromEntries(
    resourcesOfType(runner.template.template, "AWS::Lambda::Function").map(([id, resource]) => [
      id,
      Number(resource.Properties?.MemorySize ?? 128),
    ]),
  );
}

async function stopAll(proxies: readonly CountingProxy[]): Promise<void> {
  for (const proxy of proxies) await proxy.stop().catch(() => {});
}
