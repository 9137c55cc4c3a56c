/**
 * The bridge: Kubernetes watch events in, contract events (docs/input-events.md) out on SQS.
 *
 *  - Every change becomes `{"type", "object"}` with kind/apiVersion filled and only the fields
 *    ingest reads; every completed list also becomes SYNC chunks, so what was deleted while the
 *    bridge was away (a restart, a 410 Gone, a refused event) is deleted downstream too.
 *  - A bounded queue coalesces per object (newest wins) between the watches and SQS; when it is
 *    full, new objects are refused and their kind is re-listed once there is room again.
 *  - Senders pack the queue into SendMessageBatch calls (priority namespaces on the priority
 *    queue), retry failures with exponential backoff, and put failed events back in the queue.
 */

import { type BridgeGauges, BridgeMetrics } from "./bridge-metrics.ts";
import { CoalescingQueue, type QueuedEvent } from "./coalescing-queue.ts";
import { type BridgeKind, contractObject, type KubeObject } from "./contract-object.ts";
import type { ChangeType, ClusterSource, SourceSink } from "./kube-source.ts";
import { isOversized, type PackedBatch, packBatches, SQS_MAX_PAYLOAD_BYTES } from "./message-packer.ts";
import { namesByNamespace, syncChunks } from "./resync-chunks.ts";
import type { BatchTransport } from "./sqs-transport.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type BridgeLog = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export interface BridgeOptions {
  readonly source: ClusterSource;
  readonly transport: BatchTransport;
  /** Namespaces whose events go to the priority queue (the stack's DEFAULT_PRIORITY_NAMESPACES). */
  readonly priorityNamespaces: Iterable<string>;
  /** Bound of the queue in events (default 100 000) and bytes (default 64 MiB). */
  readonly maxQueueEvents?: number;
  readonly maxQueueBytes?: number;
  /** Target size of one SQS message body (default 64 KiB). */
  readonly maxBodyBytes?: number;
  /** Concurrent SendMessageBatch calls (default 4). */
  readonly senders?: number;
  /** Backoff after a failed send: first and longest delay (defaults 200 ms, 20 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Re-list every kind this often (0: never), bounding what an SQS reordering past a resync can leave. */
  readonly resyncIntervalMs?: number;
  readonly log?: BridgeLog;
  readonly nowMs?: () => number;
}

export interface DrainOutcome {
  readonly drained: boolean;
  /** Events still queued or in flight when the drain gave up. */
  readonly left: number;
}

const BRIDGE_KINDS_ORDER: readonly BridgeKind[] = ["Namespace", "Node", "Service", "Pod"];

export class Bridge implements SourceSink {
  readonly metrics = new BridgeMetrics();
  readonly #options: BridgeOptions;
  readonly #queue: CoalescingQueue;
  readonly #priority: ReadonlySet<string>;
  readonly #nowMs: () => number;
  readonly #log: BridgeLog;
  readonly #maxBodyBytes: number;
  /** Namespaces seen in lists and streams: each gets a pod and Service resync on every list. */
  readonly #namespaces = new Set<string>();
  /** Kinds whose events the full queue refused: re-listed once it has room. */
  readonly #refusedKinds = new Set<BridgeKind>();
  #failures = 0;
  #sendLagSeconds = 0;
  #running = false;
  #senders: Promise<void>[] = [];
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(options: BridgeOptions) {
    this.#options = options;
    this.#queue = new CoalescingQueue({
      maxEvents: options.maxQueueEvents ?? 100_000,
      maxBytes: options.maxQueueBytes ?? 64 * 1024 * 1024,
    });
    this.#priority = new Set(options.priorityNamespaces);
    this.#nowMs = options.nowMs ?? Date.now;
    this.#log = options.log ?? (() => {});
    this.#maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  }

  get gauges(): BridgeGauges {
    const oldest = this.#queue.oldestQueuedAtMs;
    return {
      queueEvents: this.#queue.size,
      queueBytes: this.#queue.bytes,
      queueLagSeconds: oldest === undefined ? 0 : (this.#nowMs() - oldest) / 1000,
      sendLagSeconds: this.#sendLagSeconds,
    };
  }

  /** Events queued or being sent (what the bound applies to). */
  get pending(): number {
    return this.#queue.size;
  }

  async start(): Promise<void> {
    this.#running = true;
    const senders = this.#options.senders ?? 4;
    this.#senders = Array.from({ length: senders }, () => this.#sendLoop());
    await this.#options.source.start(this);
    const interval = this.#options.resyncIntervalMs ?? 0;
    if (interval > 0) {
      this.#resyncTimer = setInterval(() => {
        for (const kind of BRIDGE_KINDS_ORDER) this.#options.source.relist(kind);
      }, interval);
      this.#resyncTimer.unref();
    }
  }

  /** Stops watching, then sends what is queued for up to `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<DrainOutcome> {
    clearInterval(this.#resyncTimer);
    await this.#options.source.stop();
    const deadline = this.#nowMs() + timeoutMs;
    while (this.pending > 0 && this.#nowMs() < deadline) await sleep(20);
    this.#running = false;
    this.#queue.interrupt();
    const left = this.pending;
    await Promise.race([Promise.all(this.#senders), sleep(Math.max(0, deadline - this.#nowMs()))]);
    return { drained: left === 0, left };
  }

  // SourceSink ---------------------------------------------------------------------------------

  change(kind: BridgeKind, type: ChangeType, object: KubeObject): void {
    this.metrics.add("eventsSeen");
    const contract = contractObject(kind, object);
    const { name, resourceVersion } = contract.metadata;
    if (name === "" || resourceVersion === "") {
      this.metrics.add("eventsFailed");
      this.#log("warn", "event without name or resourceVersion dropped", { kind, type });
      return;
    }
    const namespace = contract.metadata.namespace;
    if (namespace !== undefined) this.#namespaces.add(namespace);
    this.#offer(kind, {
      key: `${kind}/${namespace ?? ""}/${name}`,
      route: this.#routeOf(kind === "Namespace" ? name : namespace),
      resourceVersion,
      json: JSON.stringify({ type, object: contract }),
      sourceTimeMs: this.#nowMs(),
      queuedAtMs: this.#nowMs(),
    });
  }

  listed(kind: BridgeKind, objects: readonly KubeObject[], resourceVersion: string): void {
    this.metrics.add("relists");
    this.#log("info", "listed", { kind, objects: objects.length, resourceVersion });
    if (resourceVersion === "") return;
    const byNamespace = namesByNamespace(objects);
    if (kind === "Namespace") for (const name of byNamespace.get("") ?? []) this.#namespaces.add(name);
    const scopes: Array<[string | undefined, Iterable<string>]> = [];
    if (kind === "Namespace" || kind === "Node") scopes.push([undefined, byNamespace.get("") ?? []]);
    else {
      for (const namespace of byNamespace.keys()) this.#namespaces.add(namespace);
      for (const namespace of this.#namespaces) scopes.push([namespace, byNamespace.get(namespace) ?? []]);
    }
    const now = this.#nowMs();
    for (const [namespace, names] of scopes) {
      for (const chunk of syncChunks(kind, namespace, names, resourceVersion, this.#maxBodyBytes)) {
        this.#offer(kind, {
          key: `SYNC/${kind}/${namespace ?? ""}/${chunk.range.from}`,
          route: this.#routeOf(namespace),
          resourceVersion,
          json: JSON.stringify(chunk),
          sourceTimeMs: now,
          queuedAtMs: now,
        });
      }
    }
  }

  bookmark(_kind: BridgeKind, _resourceVersion: string): void {
    this.metrics.add("bookmarks");
  }

  error(kind: BridgeKind, error: unknown): void {
    this.metrics.add("watchErrors");
    this.#log("warn", "list or watch failed; retrying", { kind, error: describe(error) });
  }

  // Queue and senders --------------------------------------------------------------------------

  #routeOf(namespace: string | undefined): QueuedEvent["route"] {
    return namespace !== undefined && this.#priority.has(namespace) ? "priority" : "ingest";
  }

  #offer(kind: BridgeKind, event: QueuedEvent): void {
    if (isOversized(event)) {
      this.metrics.add("eventsFailed");
      this.#log("error", "event larger than an SQS message dropped", {
        key: event.key,
        bytes: event.json.length,
      });
      return;
    }
    const outcome = this.#queue.offer(event);
    if (outcome === "coalesced" || outcome === "stale") this.metrics.add("eventsCoalesced");
    if (outcome === "refused") {
      this.metrics.add("eventsRefused");
      if (!this.#refusedKinds.has(kind)) this.#log("warn", "queue full; kind will be re-listed", { kind });
      this.#refusedKinds.add(kind);
    }
  }

  async #sendLoop(): Promise<void> {
    while (this.#running) {
      await this.#queue.whenNotEmpty();
      if (!this.#running) return;
      const events = this.#queue.take(5000, SQS_MAX_PAYLOAD_BYTES - 16 * 1024);
      if (events.length === 0) continue;
      for (const batch of packBatches(events, { maxBodyBytes: this.#maxBodyBytes })) await this.#send(batch);
      this.#relistRefusedKinds();
    }
  }

  async #send(batch: PackedBatch): Promise<void> {
    const events = batch.bodies.flatMap((body) => body.events);
    let failed: Awaited<ReturnType<BatchTransport["send"]>>;
    try {
      failed = await this.#options.transport.send(batch);
    } catch (error) {
      this.metrics.add("sqsRetries");
      this.#log("warn", "SendMessageBatch failed; retrying", {
        error: describe(error),
        events: events.length,
      });
      this.#queue.requeue(events);
      await this.#backoff();
      return;
    }
    const failedIndexes = new Set(failed.map((entry) => entry.index));
    const retry: QueuedEvent[] = [];
    for (const entry of failed) {
      const body = batch.bodies[entry.index];
      if (body === undefined) continue;
      if (entry.retryable) retry.push(...body.events);
      else {
        this.metrics.add("eventsFailed", body.events.length);
        this.#log("error", "SQS refused a message for good; dropped", { reason: entry.reason });
      }
    }
    const sent = batch.bodies.filter((_, index) => !failedIndexes.has(index));
    const sentEvents = sent.flatMap((body) => body.events);
    this.metrics.add("sqsBatches");
    this.metrics.add("sqsMessages", sent.length);
    this.metrics.add("eventsSent", sentEvents.length);
    this.metrics.add("syncChunksSent", sentEvents.filter((event) => event.key.startsWith("SYNC/")).length);
    if (sent.length > 0) {
      this.#sendLagSeconds = (this.#nowMs() - Math.min(...sent.map((body) => body.sourceTimeMs))) / 1000;
    }
    const retried = new Set(retry);
    this.#queue.settle(events.filter((event) => !retried.has(event)));
    if (retry.length > 0) {
      this.metrics.add("sqsRetries");
      this.#queue.requeue(retry);
      await this.#backoff();
    } else this.#failures = 0;
  }

  async #backoff(): Promise<void> {
    this.#failures++;
    const base = this.#options.retryBaseMs ?? 200;
    const max = this.#options.retryMaxMs ?? 20_000;
    const ceiling = Math.min(max, base * 2 ** Math.min(this.#failures - 1, 20));
    await sleep(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #relistRefusedKinds(): void {
    if (this.#refusedKinds.size === 0) return;
    const maxEvents = this.#options.maxQueueEvents ?? 100_000;
    if (this.#queue.size > maxEvents / 2) return;
    for (const kind of BRIDGE_KINDS_ORDER) {
      if (!this.#refusedKinds.delete(kind)) continue;
      this.#log("info", "re-listing after the queue refused events", { kind });
      this.#options.source.relist(kind);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
