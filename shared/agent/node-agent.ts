/**
 * The node agent (`npm run agent`): one WatcherAgent kept running for a node, with what an operator
 * expects around it:
 *   - state on disk (state-file.ts), saved every snapshot interval when something changed and on
 *     stop; received messages are deleted only once a saved state covers them (deferDeletes), so a
 *     crash loses nothing and a restart resumes from the queue without listing again;
 *   - /metrics (Prometheus text) and /healthz on 127.0.0.1;
 *   - the applied watermark acknowledged to the API every ack interval;
 *   - the IPCache and Service backends written to a file (backends-dump.ts).
 *
 * After a receive that brought messages the next waits 1 s instead of the long poll's 20 s: one that
 * comes back empty then tells, within a second, that the queue is drained (the watermark moves).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { WatchedKind } from "#shared/api/watcher-registry.ts";
import { WatcherAgent } from "#shared/watcher/watcher-agent.ts";
import { type NodeAgentCounters, nodeAgentMetrics } from "./agent-metrics.ts";
import { writeBackendsDump } from "./backends-file.ts";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "./prometheus-text.ts";
import { agentStatePath, loadAgentState, saveAgentState } from "./state-file.ts";

/**
 * How often a node agent with a state directory saves its state, and so deletes what it received
 * (the messages a saved state covers): one DeleteMessageBatch per interval instead of one per receive.
 */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 5_000;

export interface NodeAgentOptions {
  readonly api: string;
  readonly node: string;
  readonly zone?: string | undefined;
  readonly zoneOnly?: boolean | undefined;
  readonly kinds: readonly WatchedKind[];
  readonly sqs: SQSClient;
  /** Signs or labels API calls (SigV4 on AWS, the local principal header locally). */
  readonly fetch?: typeof fetch;
  /** Where the state is kept; undefined: nowhere (every start lists). */
  readonly stateDir?: string | undefined;
  readonly snapshotIntervalMs?: number;
  readonly ackIntervalMs?: number;
  /** undefined: no HTTP server; 0: any free port. */
  readonly metricsPort?: number | undefined;
  /** A file rewritten (atomically) when the backends change, or "-" for stdout at stop. */
  readonly dump?: string | undefined;
  /** The long poll's wait on a quiet queue (default 20 s). */
  readonly waitSeconds?: number;
  readonly gapGraceMs?: number;
  readonly log?: (line: string, fields?: Record<string, unknown>) => void;
}

export type StartupReport =
  | { readonly mode: "resumed"; readonly objectsRead: number; readonly stateBytes: number }
  | { readonly mode: "listed"; readonly reason: string; readonly objectsRead: number };

export class NodeAgent {
  readonly agent: WatcherAgent;
  readonly counters: NodeAgentCounters = {
    snapshotsSaved: 0,
    snapshotBytes: 0,
    snapshotErrors: 0,
    acks: 0,
    ackErrors: 0,
    pollErrors: 0,
    resumed: 0,
    startupObjectsRead: 0,
  };
  readonly #options: NodeAgentOptions;
  readonly #stop = new AbortController();
  #server: Server | undefined;
  #loop: Promise<void> | undefined;
  #lastPollOkAtMs: number | undefined;
  #savedAtMs = 0;
  #savedMarks = "";
  #ackedAtMs = 0;
  #ackedThrough: number | undefined;
  #dumpedMarks = "";

  constructor(options: NodeAgentOptions) {
    this.#options = options;
    this.agent = new WatcherAgent({
      api: options.api,
      node: options.node,
      zone: options.zone,
      zoneOnly: options.zoneOnly,
      kinds: options.kinds,
      sqs: options.sqs,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.gapGraceMs === undefined ? {} : { gapGraceMs: options.gapGraceMs }),
      deferDeletes: options.stateDir !== undefined,
      validateBodies: true,
    });
  }

  get statePath(): string | undefined {
    const { stateDir, node } = this.#options;
    return stateDir === undefined ? undefined : agentStatePath(stateDir, node);
  }

  /** The metrics server's base URL (http://127.0.0.1:PORT), once started with a metrics port. */
  get metricsUrl(): string | undefined {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    return address == null ? undefined : `http://127.0.0.1:${address.port}`;
  }

  /** Resumes from the saved state, or registers and lists; then serves metrics and follows the queue. */
  async start(): Promise<StartupReport> {
    const report = await this.#startWatching();
    this.counters.resumed = report.mode === "resumed" ? 1 : 0;
    this.counters.startupObjectsRead = report.objectsRead;
    this.#options.log?.(`agent ${this.#options.node} started`, { ...report });
    // Registered and listed (or resumed): healthy until receives stop completing.
    this.#lastPollOkAtMs = Date.now();
    if (this.#options.metricsPort !== undefined) await this.#serve(this.#options.metricsPort);
    this.#loop = this.#run();
    return report;
  }

  async #startWatching(): Promise<StartupReport> {
    const path = this.statePath;
    const loaded = path === undefined ? undefined : await loadAgentState(path);
    if (loaded?.outcome === "loaded") {
      const outcome = await this.agent.resume(loaded.state);
      if (outcome.resumed)
        return { mode: "resumed", objectsRead: this.agent.stats.objectsRead, stateBytes: loaded.bytes };
      return { mode: "listed", reason: outcome.reason, objectsRead: this.agent.stats.objectsRead };
    }
    await this.agent.register();
    await this.agent.list();
    const reason =
      loaded === undefined
        ? "no state directory"
        : loaded.outcome === "missing"
          ? "no saved state"
          : `corrupt state: ${loaded.reason}`;
    return { mode: "listed", reason, objectsRead: this.agent.stats.objectsRead };
  }

  /** Stops following the queue, saves the state (then deletes what it covers), writes the dump. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.#persist(true);
    await this.#acknowledge(true);
    await this.#dump(true);
    await new Promise<void>((resolve) =>
      this.#server === undefined ? resolve() : this.#server.close(() => resolve()),
    );
    this.#server = undefined;
  }

  /** The state a health check sees: registered and receiving. */
  health(nowMs = Date.now()): { ok: boolean; reason: string } {
    if (this.agent.registration === undefined) return { ok: false, reason: "not registered" };
    const wait = this.#options.waitSeconds ?? 20;
    if (this.#lastPollOkAtMs === undefined) return { ok: false, reason: "starting" };
    const silentMs = nowMs - this.#lastPollOkAtMs;
    if (silentMs > (wait + 30) * 1000)
      return { ok: false, reason: `no receive completed for ${Math.round(silentMs / 1000)} s` };
    return { ok: true, reason: "ok" };
  }

  metricsText(nowMs = Date.now()): string {
    return prometheusText(nodeAgentMetrics(this.agent, this.counters, nowMs));
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const longWait = this.#options.waitSeconds ?? 20;
    let wait = longWait;
    while (!signal.aborted) {
      try {
        const { received } = await this.agent.pollOnce(wait, 10, signal);
        this.#lastPollOkAtMs = Date.now();
        wait = received > 0 ? Math.min(1, longWait) : longWait;
        await this.#persist(false);
        await this.#acknowledge(false);
        await this.#dump(false);
      } catch (error) {
        if (signal.aborted) break;
        this.counters.pollErrors++;
        this.#options.log?.(`agent ${this.#options.node}: receive failed`, { error: String(error) });
        await sleep(1000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /** A fingerprint of "something changed since": what was received, applied or re-listed. */
  #marks(): string {
    const { stats } = this.agent;
    return `${stats.messages}/${stats.applied}/${stats.relists}/${stats.gapsRefetched}/${this.agent.heldGaps}`;
  }

  async #persist(force: boolean): Promise<void> {
    const path = this.statePath;
    if (path === undefined || this.agent.registration === undefined) return;
    const now = Date.now();
    const marks = this.#marks();
    if (
      !force &&
      (marks === this.#savedMarks ||
        now - this.#savedAtMs < (this.#options.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS))
    )
      return;
    try {
      this.counters.snapshotBytes = await saveAgentState(path, this.agent.exportState());
      this.counters.snapshotsSaved++;
      this.#savedAtMs = now;
      this.#savedMarks = marks;
      // Only now that a saved state covers them may the messages go from the queue.
      await this.agent.flushDeletes();
    } catch (error) {
      this.counters.snapshotErrors++;
      this.#options.log?.(`agent ${this.#options.node}: saving the state failed`, { error: String(error) });
    }
  }

  async #acknowledge(force: boolean): Promise<void> {
    const through = this.agent.appliedThroughMs;
    if (through === undefined || through === this.#ackedThrough) return;
    const now = Date.now();
    if (!force && now - this.#ackedAtMs < (this.#options.ackIntervalMs ?? 5000)) return;
    this.#ackedAtMs = now;
    try {
      if (await this.agent.acknowledge()) {
        this.counters.acks++;
        this.#ackedThrough = through;
      }
    } catch (error) {
      this.counters.ackErrors++;
      this.#options.log?.(`agent ${this.#options.node}: acknowledgement failed`, { error: String(error) });
    }
  }

  async #dump(final: boolean): Promise<void> {
    const target = this.#options.dump;
    if (target === undefined || (target === "-" && !final)) return;
    const marks = this.#marks();
    if (!final && marks === this.#dumpedMarks) return;
    this.#dumpedMarks = marks;
    await writeBackendsDump(target, this.#options.node, this.agent);
  }

  async #serve(port: number): Promise<void> {
    const server = createServer((request, response) => {
      const path = (request.url ?? "/").split("?")[0];
      if (request.method !== "GET") {
        response.writeHead(405, { allow: "GET" }).end();
        return;
      }
      if (path === "/metrics") {
        response.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(this.metricsText());
        return;
      }
      if (path === "/healthz") {
        const health = this.health();
        response
          .writeHead(health.ok ? 200 : 503, { "content-type": "text/plain; charset=utf-8" })
          .end(`${health.reason}\n`);
        return;
      }
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.#server = server;
  }
}
