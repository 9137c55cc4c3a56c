/**
 * The fleet in a worker thread. The SDK work of 1,000 agents (a long poll each, a receive and a
 * delete per delivery) is as much CPU as the emulators serving it; on its own event loop it uses the
 * second core instead of queueing behind fauxqs and the handlers in the main thread (measured on
 * this machine: 1,000 queues at 2 deliveries/s each, p99 25 s in one thread, 3.3 s with the
 * consumers in a worker).
 *
 * Protocol: the parent sends one command at a time and waits for its answer.
 */
import { Agent } from "node:http";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import type { LatencySummary } from "#shared/bench/types.ts";
import { LatencyRecorder } from "#shared/watcher/latency-recorder.ts";
import { type BackoffPolicy, type RestartReport, WatcherFleet } from "./fleet.ts";
import type { LiveWatcher, WatcherFactoryInput } from "./live-watcher.ts";

export interface FleetWorkerData {
  readonly api: string;
  readonly sqsEndpoint: string;
  readonly watchers: number;
  readonly zones: readonly string[];
  readonly zoneOnly: boolean;
  readonly waitSeconds: number;
  readonly joinConcurrency: number;
  /** Module exporting `createLiveWatcher(input: WatcherFactoryInput): LiveWatcher`. */
  readonly factoryModule: string;
}

export type FleetCommand =
  | { readonly type: "join" }
  | { readonly type: "reset-counters" }
  | { readonly type: "restart"; readonly fraction: number; readonly backoff: BackoffPolicy }
  | { readonly type: "settle"; readonly timeoutMs: number }
  | { readonly type: "stop" };

export interface SettleReport {
  readonly converged: number;
  readonly total: number;
  readonly settleMs: number;
  readonly messages: number;
  /** Objects and bytes the fleet read from the API (re-lists, gap and reference GETs). */
  readonly objectsRead: number;
  readonly bytesRead: number;
  /** Most messages the whole fleet received in one second since reset-counters. */
  readonly peakMessagesPerSecond: number;
  readonly bytes: number;
  readonly gapsRefetched: number;
  readonly pollErrors: number;
  readonly latency: LatencySummary;
  readonly latencyCdf: readonly number[];
  readonly heapUsedMb: number;
}

export type FleetReply =
  | { readonly type: "joined"; readonly ms: number }
  | { readonly type: "progress"; readonly stage: string; readonly done: number; readonly total: number }
  | { readonly type: "ok" }
  | { readonly type: "restarted"; readonly report: RestartReport }
  | { readonly type: "settled"; readonly report: SettleReport }
  | { readonly type: "error"; readonly message: string };

/** The parent's handle on a fleet worker. */
export class FleetWorker {
  readonly #worker: Worker;
  readonly #onProgress: (stage: string, done: number, total: number) => void;
  #pending: Array<(reply: FleetReply) => void> = [];

  constructor(data: FleetWorkerData, onProgress: (stage: string, done: number, total: number) => void) {
    this.#worker = new Worker(new URL(import.meta.url), { workerData: data });
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
  const { createLiveWatcher } = (await import(data.factoryModule)) as {
    createLiveWatcher: (input: WatcherFactoryInput) => LiveWatcher;
  };
  const sqs: SQSClient = createSqsClient({
    endpoint: data.sqsEndpoint,
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: data.watchers + 64 }) },
  });
  const progress = (stage: string, done: number, total: number) =>
    port.postMessage({ type: "progress", stage, done, total } satisfies FleetReply);
  const watchers = Array.from({ length: data.watchers }, (_, i) =>
    createLiveWatcher({
      api: data.api,
      sqs,
      node: `node-${String(i).padStart(5, "0")}`,
      zone: data.zones[i % data.zones.length] as string,
      zoneOnly: data.zoneOnly,
    }),
  );
  const fleet = new WatcherFleet({
    joinConcurrency: data.joinConcurrency,
    waitSeconds: data.waitSeconds,
    onJoined: (joined) => progress("fleet join", joined, data.watchers),
  });

  const settle = async (timeoutMs: number): Promise<SettleReport> => {
    const started = Date.now();
    const truth = new Map<string, string>();
    for (const zone of data.zoneOnly ? data.zones : [data.zones[0] as string]) {
      const reference = createLiveWatcher({
        api: data.api,
        sqs,
        node: `truth-${zone}`,
        zone,
        zoneOnly: data.zoneOnly,
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
    const merged = new LatencyRecorder();
    for (const watcher of watchers) merged.merge(watcher.latency);
    return {
      converged,
      total: data.watchers,
      settleMs: Date.now() - started,
      messages: watchers.reduce((sum, watcher) => sum + watcher.received.messages, 0),
      bytes: watchers.reduce((sum, watcher) => sum + watcher.received.bytes, 0),
      gapsRefetched: watchers.reduce((sum, watcher) => sum + watcher.gapsRefetched, 0),
      pollErrors: fleet.pollErrors,
      latency: merged.summary(),
      latencyCdf: merged.cdf(201),
      objectsRead: watchers.reduce((sum, watcher) => sum + watcher.read.objects, 0),
      bytesRead: watchers.reduce((sum, watcher) => sum + watcher.read.bytes, 0),
      peakMessagesPerSecond: peakPerSecond,
      heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
    };
  };

  let peakPerSecond = 0;
  let sampler: ReturnType<typeof setInterval> | undefined;
  const receivedNow = () => watchers.reduce((sum, watcher) => sum + watcher.received.messages, 0);
  const startRateSampler = () => {
    clearInterval(sampler);
    peakPerSecond = 0;
    let last = receivedNow();
    sampler = setInterval(() => {
      const now = receivedNow();
      peakPerSecond = Math.max(peakPerSecond, now - last);
      last = now;
    }, 1000);
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
