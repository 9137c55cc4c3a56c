/**
 * One shard of the fleet in a worker thread: agents `firstIndex .. firstIndex + watchers - 1`. The
 * SDK work of the agents (a long poll each, a receive and a delete per delivery, the signing, the
 * JSON) and their caches are as much CPU and heap as the emulators serving them; on their own event
 * loops they use whatever core is free instead of queueing behind fauxqs and the handlers, and
 * several smaller heaps collect faster than one heap of every agent's cache (fleet-shards.ts).
 *
 * Protocol: the parent sends one command at a time and waits for its answer.
 */
import { Agent } from "node:http";
import { setPriority } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { LatencyRecorder, type LatencySnapshot } from "#shared/watcher/latency-recorder.ts";
import type { AppliedTiming } from "#shared/watcher/watcher-agent.ts";
import { type BackoffPolicy, type RestartReport, WatcherFleet } from "./fleet.ts";
import { asSqsClient, createFleetSqsClient } from "./fleet-sqs-client.ts";
import type { LiveWatcher, WatcherFactoryInput } from "./live-watcher.ts";

export interface FleetWorkerData {
  readonly api: string;
  readonly sqsEndpoint: string;
  /** This shard's agents: node-<firstIndex> onwards, zones round robin over the whole fleet's index. */
  readonly firstIndex: number;
  readonly watchers: number;
  readonly zones: readonly string[];
  readonly zoneOnly: boolean;
  readonly waitSeconds: number;
  readonly joinConcurrency: number;
  /** Module exporting `createLiveWatcher(input: WatcherFactoryInput): LiveWatcher`. */
  readonly factoryModule: string;
  /** The agents' SQS client: the thin one (fleet-sqs-client.ts, default) or the AWS SDK's. */
  readonly sqsClient?: FleetSqsClientKind;
  /** The agents delete in batches every this many ms (WatcherFactoryInput.deleteIntervalMs). */
  readonly deleteIntervalMs?: number;
  /**
   * Nice value of this worker's thread (Linux: per thread). In AWS the agents run on their own
   * nodes and take no CPU from the pipeline; here they share two cores with it, so they yield.
   */
  readonly nice?: number;
}

export type FleetSqsClientKind = "thin" | "sdk";

export type FleetCommand =
  | { readonly type: "join" }
  | { readonly type: "reset-counters" }
  | { readonly type: "restart"; readonly fraction: number; readonly backoff: BackoffPolicy }
  | { readonly type: "settle"; readonly timeoutMs: number }
  | { readonly type: "stop" };

/** Where an applied change's time went, per change (AppliedTiming), as histograms. */
export interface StageSnapshots {
  /** Source event → the message in the agent's queue (SQS SentTimestamp): ingest, stream, fan-out, SNS. */
  readonly toQueue: LatencySnapshot;
  /** In the queue → received by the agent: the long poll's wake-up and response, the agent's turn. */
  readonly inQueue: LatencySnapshot;
  /** Received → applied: the agent's own work (and any read it needed). */
  readonly apply: LatencySnapshot;
}

export interface ShardSettleReport {
  readonly converged: number;
  readonly total: number;
  readonly settleMs: number;
  readonly messages: number;
  readonly bytes: number;
  /** Objects and bytes the shard read from the API (re-lists, gap and reference GETs). */
  readonly objectsRead: number;
  readonly bytesRead: number;
  /** Messages received per wall-clock second (epoch second → count) since reset-counters. */
  readonly messagesPerSecond: Readonly<Record<number, number>>;
  readonly gapsRefetched: number;
  readonly pollErrors: number;
  /** Requests on the watcher queues since reset-counters: receives that returned messages, delete batches. */
  readonly queueRequests: { readonly receives: number; readonly deletes: number };
  readonly latency: LatencySnapshot;
  readonly stages: StageSnapshots;
  readonly heapUsedMb: number;
}

export type FleetReply =
  | { readonly type: "joined"; readonly ms: number }
  | { readonly type: "progress"; readonly stage: string; readonly done: number; readonly total: number }
  | { readonly type: "ok" }
  | { readonly type: "restarted"; readonly report: RestartReport }
  | { readonly type: "settled"; readonly report: ShardSettleReport }
  | { readonly type: "error"; readonly message: string };

/** The parent's handle on one fleet worker. */
export class FleetWorker {
  readonly #worker: Worker;
  readonly #onProgress: (stage: string, done: number, total: number) => void;
  #pending: Array<(reply: FleetReply) => void> = [];

  constructor(data: FleetWorkerData, onProgress: (stage: string, done: number, total: number) => void) {
    this.#worker = new Worker(new URL(import.meta.url), {
      workerData: data,
    });
    this.#onProgress = onProgress;
    this.#worker.on("message", (reply: FleetReply) => {
      if (reply.type === "progress") return this.#onProgress(reply.stage, reply.done, reply.total);
      this.#pending.shift()?.(reply);
    });
    this.#worker.on("error", (error) => {
      for (const resolve of this.#pending.splice(0)) resolve({ type: "error", message: String(error) });
    });
  }

  async send(command: FleetCommand): Promise<FleetReply> {
    const reply = await new Promise<FleetReply>((resolve) => {
      this.#pending.push(resolve);
      this.#worker.postMessage(command);
    });
    if (reply.type === "error") throw new FleetWorkerError(reply.message);
    return reply;
  }

  /** CPU time of the worker's thread so far (µs). */
  async cpuUs(): Promise<number> {
    const usage = await this.#worker.cpuUsage();
    return usage.user + usage.system;
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}

export class FleetWorkerError extends Error {
  override name = "FleetWorkerError";
}

if (!isMainThread && parentPort !== null && (workerData as { factoryModule?: string })?.factoryModule) {
  const data = workerData as FleetWorkerData;
  const port = parentPort;
  if (data.nice !== undefined) setPriority(0, data.nice);
  const { createLiveWatcher } = (await import(data.factoryModule)) as {
    createLiveWatcher: (input: WatcherFactoryInput) => LiveWatcher;
  };
  const client: SQSClient =
    data.sqsClient === "sdk"
      ? createSqsClient({
          endpoint: data.sqsEndpoint,
          requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: data.watchers + 64 }) },
        })
      : asSqsClient(createFleetSqsClient(data.sqsEndpoint, data.watchers + 64));
  // Counted as AWS bills them: a receive that returns messages, a delete batch. Empty long polls
  // are left out (the cost model prices idle polls at AWS's 20 s wait; here they wait 5 s).
  const queueRequests = { receives: 0, deletes: 0 };
  const sqs = {
    send: async (command: unknown, options?: unknown) => {
      const output = await (client.send as (command: unknown, options?: unknown) => Promise<unknown>)(
        command,
        options,
      );
      if (command instanceof ReceiveMessageCommand) {
        if (((output as { Messages?: unknown[] }).Messages?.length ?? 0) > 0) queueRequests.receives++;
      } else if (command instanceof DeleteMessageBatchCommand) queueRequests.deletes++;
      return output;
    },
  } as unknown as SQSClient;
  const progress = (stage: string, done: number, total: number) =>
    port.postMessage({ type: "progress", stage, done, total } satisfies FleetReply);
  // One recorder per measure for the whole shard (a histogram is ~140 KB; 1,000 would be 140 MB).
  const latency = new LatencyRecorder();
  const stages = {
    toQueue: new LatencyRecorder(),
    inQueue: new LatencyRecorder(),
    apply: new LatencyRecorder(),
  };
  const onApplied = (timing: AppliedTiming) => {
    if (timing.enqueuedAtMs === undefined) return;
    stages.toQueue.record(timing.enqueuedAtMs - timing.sourceTimeMs);
    stages.inQueue.record(timing.receivedAtMs - timing.enqueuedAtMs);
    stages.apply.record(timing.appliedAtMs - timing.receivedAtMs);
  };
  const watchers = Array.from({ length: data.watchers }, (_, offset) => {
    const i = data.firstIndex + offset;
    return createLiveWatcher({
      api: data.api,
      sqs,
      node: `node-${String(i).padStart(5, "0")}`,
      zone: data.zones[i % data.zones.length] as string,
      zoneOnly: data.zoneOnly,
      latency,
      onApplied,
      ...(data.deleteIntervalMs === undefined ? {} : { deleteIntervalMs: data.deleteIntervalMs }),
    });
  });
  const fleet = new WatcherFleet({
    joinConcurrency: data.joinConcurrency,
    waitSeconds: data.waitSeconds,
    onJoined: (joined) => progress("fleet join", joined, data.watchers),
  });

  const settle = async (timeoutMs: number): Promise<ShardSettleReport> => {
    const started = Date.now();
    const truth = new Map<string, string>();
    for (const zone of data.zoneOnly ? data.zones : [data.zones[0] as string]) {
      const reference = createLiveWatcher({
        api: data.api,
        sqs,
        node: `truth-${zone}`,
        zone,
        zoneOnly: data.zoneOnly,
        latency: new LatencyRecorder({ figures: 1 }),
      });
      await reference.list();
      truth.set(data.zoneOnly ? zone : "", reference.digest());
    }
    const expected = (watcher: LiveWatcher) => truth.get(data.zoneOnly ? (watcher.zone ?? "") : "");
    let converged = 0;
    while (true) {
      converged = watchers.filter((watcher) => watcher.digest() === expected(watcher)).length;
      progress("converge", converged, data.watchers);
      if (converged === data.watchers || Date.now() - started > timeoutMs) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return {
      converged,
      total: data.watchers,
      settleMs: Date.now() - started,
      messages: watchers.reduce((sum, watcher) => sum + watcher.received.messages, 0),
      bytes: watchers.reduce((sum, watcher) => sum + watcher.received.bytes, 0),
      gapsRefetched: watchers.reduce((sum, watcher) => sum + watcher.gapsRefetched, 0),
      pollErrors: fleet.pollErrors,
      queueRequests: { ...queueRequests },
      latency: latency.snapshot(),
      stages: {
        toQueue: stages.toQueue.snapshot(),
        inQueue: stages.inQueue.snapshot(),
        apply: stages.apply.snapshot(),
      },
      objectsRead: watchers.reduce((sum, watcher) => sum + watcher.read.objects, 0),
      bytesRead: watchers.reduce((sum, watcher) => sum + watcher.read.bytes, 0),
      messagesPerSecond: Object.fromEntries(perSecond),
      heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
    };
  };

  // Messages received per wall-clock second, sampled on the second so shards' counts add up.
  const perSecond = new Map<number, number>();
  let sampler: ReturnType<typeof setTimeout> | undefined;
  const receivedNow = () => watchers.reduce((sum, watcher) => sum + watcher.received.messages, 0);
  const startRateSampler = () => {
    clearTimeout(sampler);
    perSecond.clear();
    let last = receivedNow();
    const tick = () => {
      const now = receivedNow();
      const second = Math.round(Date.now() / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + now - last);
      last = now;
      sampler = setTimeout(tick, 1000 - (Date.now() % 1000));
      sampler.unref();
    };
    sampler = setTimeout(tick, 1000 - (Date.now() % 1000));
    sampler.unref();
  };

  port.on("message", async (command: FleetCommand) => {
    try {
      switch (command.type) {
        case "join": {
          const started = Date.now();
          await fleet.join(watchers);
          port.postMessage({ type: "joined", ms: Date.now() - started } satisfies FleetReply);
          break;
        }
        case "reset-counters":
          for (const watcher of watchers) watcher.resetCounters();
          latency.reset();
          queueRequests.receives = 0;
          queueRequests.deletes = 0;
          for (const recorder of Object.values(stages)) recorder.reset();
          startRateSampler();
          port.postMessage({ type: "ok" } satisfies FleetReply);
          break;
        case "restart":
          port.postMessage({
            type: "restarted",
            report: await fleet.restart(command.fraction, command.backoff),
          } satisfies FleetReply);
          break;
        case "settle": {
          const report = await settle(command.timeoutMs);
          port.postMessage({ type: "settled", report } satisfies FleetReply);
          break;
        }
        case "stop":
          await fleet.stop();
          port.postMessage({ type: "ok" } satisfies FleetReply);
          break;
      }
    } catch (error) {
      port.postMessage({ type: "error", message: String(error) } satisfies FleetReply);
    }
  });
}
