/**
 * One node agent (kube-proxy / cilium-agent) on sliceline (docs/contract.md §4): registers its channel,
 * lists a snapshot, then applies what its queue delivers to its WatcherCache.
 *
 * Register before list: the channel exists (subscribed) before the snapshot is read, so a change
 * made during the list arrives on the queue too and the older copy is dropped by resourceVersion.
 * The agent runs no loop of its own: a fleet simulator calls pollOnce for many agents with its own
 * concurrency; `run` is the loop for a single agent.
 *
 * Outages: SQS standard carries no sequence numbers, so a lost delivery cannot be seen in the
 * stream itself. What can be seen is time: a queue keeps a change for its retention
 * (registration.queueRetentionSeconds), so an agent whose last receive is older than that, less a
 * margin, may have lost changes, and one past its registration's expiry may have lost its queue
 * (the sweep deletes it). Either way pollOnce re-registers (idempotent while the registration
 * lives; a new queue otherwise) and re-lists before it receives again. A live agent keeps its
 * registration alive by reading it (its owner's GET is the heartbeat) a third of the way to its
 * expiry; a 404 there, or a queue that no longer exists, is the same recovery.
 */
import {
  DeleteMessageBatchCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { API_RESOURCES } from "#shared/api/api-resources.ts";
import type { KubeStatus } from "#shared/api/status.ts";
import type { WatchedKind, WatcherRegistration } from "#shared/api/watcher-registry.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import { changesOfBody, MalformedChangeError } from "./change-body.ts";
import { DEFAULT_GAP_GRACE_MS, GapTracker } from "./gap-tracker.ts";
import { LatencyRecorder } from "./latency-recorder.ts";
import { type CacheObjectRef, cacheKey, WatcherCache, type WatcherCacheState } from "./watcher-cache.ts";

export interface WatcherAgentOptions {
  /** The HTTP API's base URL (http://127.0.0.1:PORT locally). */
  readonly api: string;
  readonly node: string;
  readonly zone?: string | undefined;
  readonly kinds: readonly WatchedKind[];
  /** Only the endpoints of the agent's zone (topology-aware subsetting). */
  readonly zoneOnly?: boolean | undefined;
  readonly sqs: SQSClient;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  /** How long a patch waits for its base before the object is re-read (default 1 s). */
  readonly gapGraceMs?: number;
  /** List page size (limit); default 500. */
  readonly listPageSize?: number;
  /** How long a deletion is remembered against late older copies: 5..10 min by default. */
  readonly tombstoneRetentionMs?: number;
  /** Where latencies go; a fleet in one process shares one (a histogram is ~140 KB). */
  readonly latency?: LatencyRecorder;
  /** Safety margin below the queue's retention and the registration's expiry (default 60 s). */
  readonly outageMarginMs?: number;
  /**
   * Keep received messages on the queue (invisible) until `flushDeletes()`: an agent that saves
   * its state to disk deletes only what a saved state covers, so a crash between a save and the
   * next loses nothing (SQS delivers the undeleted messages again after their visibility timeout).
   */
  readonly deferDeletes?: boolean;
  /** Hold every body to the wire format's schema (wire-format.ts); a body that fails counts as malformed. */
  readonly validateBodies?: boolean;
  /**
   * Where a change's time went (the benchmark's attribution of latency): when given, receives ask
   * SQS for each message's SentTimestamp (when the message entered the agent's queue) and every
   * change applied from a received message is reported with its times.
   */
  readonly onApplied?: (timing: AppliedTiming) => void;
}

/**
 * One applied change's times (epoch ms): source event → in the agent's queue (the pipeline: ingest,
 * stream, fan-out, SNS) → received (waiting in the queue, the long poll) → applied (the agent).
 */
export interface AppliedTiming {
  readonly sourceTimeMs: number;
  /** SQS's SentTimestamp of the message; undefined if the queue did not say. */
  readonly enqueuedAtMs: number | undefined;
  readonly receivedAtMs: number;
  readonly appliedAtMs: number;
}

/**
 * What an agent needs to resume after a restart without listing again (exportState / resume):
 * the cache, the patches held for their base, and where and since when it was receiving.
 */
export interface WatcherAgentState {
  readonly format: typeof AGENT_STATE_FORMAT;
  readonly node: string;
  readonly kinds: readonly WatchedKind[];
  readonly zone: string | undefined;
  readonly zoneOnly: boolean;
  readonly queueUrl: string;
  /** The registration this state was received under (a new one means a new, empty queue). */
  readonly registeredAtMs: number;
  /** On the agent's clock: when the last receive completed, and when the registration expires. */
  readonly lastReceivedAtMs: number;
  readonly expiresAtMs: number | undefined;
  readonly savedAtMs: number;
  readonly appliedThroughMs: number | undefined;
  readonly newestSourceTimeMs: number | undefined;
  readonly cache: WatcherCacheState;
  readonly held: ReadonlyArray<{ readonly ref: CacheObjectRef; readonly changes: readonly BundledChange[] }>;
}

export const AGENT_STATE_FORMAT = "sliceline-agent-state/1";

/** Why `resume` listed again instead of continuing from the saved state. */
export type ResumeOutcome =
  | { readonly resumed: true }
  | {
      readonly resumed: false;
      readonly reason: "other-watcher" | "retention" | "expired" | "new-registration";
    };

/** Why the agent re-registered and re-listed on its own. */
export type RecoveryReason = "retention" | "expired" | "unregistered" | "queue-gone";

export interface WatcherAgentStats {
  /** Queue messages received (deliveries), and their body bytes. */
  messages: number;
  bytes: number;
  applied: number;
  duplicates: number;
  /** Patches held for their base. */
  gapsHeld: number;
  /** Objects re-read because a held patch's base never came. */
  gapsRefetched: number;
  /** Objects read because the change was too big to travel (reference form). */
  referencesFetched: number;
  /** Objects read because a whole copy no newer than the last list named one the list lacked. */
  unlistedFetched: number;
  relists: number;
  /** Objects read from the API (lists and single GETs) and their response bytes: the read side's load. */
  objectsRead: number;
  bytesRead: number;
  /** Bodies that were not a change, and changes of kinds the agent did not ask for. */
  malformed: number;
  ignored: number;
  /** Registration reads that kept it alive; outages detected and recovered from (re-register, re-list). */
  heartbeats: number;
  /** Receives that found the queue empty with no patch waiting: the applied watermark moved then. */
  drained: number;
  recoveries: number;
  lastRecovery: RecoveryReason | undefined;
}

/** An HTTP API answer other than the expected one; `status` is the Kubernetes Status when it sent one. */
export class WatcherApiError extends Error {
  override name = "WatcherApiError";
  readonly code: number;
  readonly status: KubeStatus | undefined;

  constructor(message: string, code: number, status: KubeStatus | undefined) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export class WatcherNotRegisteredError extends Error {
  override name = "WatcherNotRegisteredError";
}

/** The queue was deleted (the registration expired and was swept, or deregistered elsewhere). */
function isQueueGone(error: unknown): boolean {
  const name = (error as Error | undefined)?.name ?? "";
  return (
    error instanceof QueueDoesNotExist ||
    name === "QueueDoesNotExist" ||
    name.endsWith(".NonExistentQueue") ||
    name === "NonExistentQueue"
  );
}

export interface PollResult {
  readonly received: number;
  readonly applied: number;
}

export class WatcherAgent {
  readonly cache = new WatcherCache();
  readonly latency: LatencyRecorder;
  readonly stats: WatcherAgentStats = {
    messages: 0,
    bytes: 0,
    applied: 0,
    duplicates: 0,
    gapsHeld: 0,
    gapsRefetched: 0,
    referencesFetched: 0,
    unlistedFetched: 0,
    relists: 0,
    objectsRead: 0,
    bytesRead: 0,
    malformed: 0,
    ignored: 0,
    heartbeats: 0,
    drained: 0,
    recoveries: 0,
    lastRecovery: undefined,
  };
  readonly #options: WatcherAgentOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #gaps: GapTracker;
  readonly #kinds: ReadonlySet<string>;
  #registration: WatcherRegistration | undefined;
  #tombstonesRotatedAtMs: number | undefined;
  /** When the last receive completed (undefined before the first). */
  #lastReceivedAtMs: number | undefined;
  /** The registration's expiry and next heartbeat, on the agent's clock. */
  #expiresAtMs: number | undefined;
  #heartbeatDueAtMs: number | undefined;
  /** Receipt handles of applied messages not deleted yet (deferDeletes). */
  #pendingDeletes: Array<{ readonly queueUrl: string; readonly receiptHandle: string }> = [];
  /** The newest source-event time among the changes applied (or found already applied). */
  #newestSourceTimeMs: number | undefined;
  #appliedThroughMs: number | undefined;
  /** The message being applied (onApplied): when it entered the queue and when it was received. */
  #delivery: { readonly enqueuedAtMs: number | undefined; readonly receivedAtMs: number } | undefined;

  constructor(options: WatcherAgentOptions) {
    this.#options = options;
    this.latency = options.latency ?? new LatencyRecorder();
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#gaps = new GapTracker(options.gapGraceMs ?? DEFAULT_GAP_GRACE_MS);
    this.#kinds = new Set(options.kinds);
  }

  get node(): string {
    return this.#options.node;
  }

  get registration(): WatcherRegistration | undefined {
    return this.#registration;
  }

  /**
   * The agent's applied watermark: the newest source-event time among the changes it had applied
   * when a receive last found its queue empty with no patch waiting for its base, so every change
   * delivered to it before that receive is applied (docs/aws.md "Node agent: acknowledgements").
   */
  get appliedThroughMs(): number | undefined {
    return this.#appliedThroughMs;
  }

  /** Patches waiting for their base. */
  get heldGaps(): number {
    return this.#gaps.size;
  }

  async register(): Promise<WatcherRegistration> {
    const { node, zone, kinds, zoneOnly } = this.#options;
    const body = JSON.stringify({
      node,
      kinds,
      ...(zone === undefined ? {} : { zone }),
      ...(zoneOnly ? { zoneOnly } : {}),
    });
    const response = await this.#request("POST", "/v1/watchers", body);
    return this.#registered((await response.json()) as WatcherRegistration, response);
  }

  /**
   * Keeps the registration and its deadlines on the agent's own clock: expiresAtMs is the API's
   * time, so the time left is measured against the answer's Date header (the API's clock).
   */
  #registered(registration: WatcherRegistration, response: Response): WatcherRegistration {
    this.#registration = registration;
    // The queue collects from registration on: an agent that never receives is silent since then.
    this.#lastReceivedAtMs ??= this.#now();
    if (registration.expiresAtMs === undefined) {
      // An older API: no expiry, no heartbeat.
      this.#expiresAtMs = undefined;
      this.#heartbeatDueAtMs = undefined;
      return registration;
    }
    const serverNow = Date.parse(response.headers.get("date") ?? "");
    const leftMs = registration.expiresAtMs - (Number.isNaN(serverNow) ? Date.now() : serverNow);
    const now = this.#now();
    this.#expiresAtMs = now + leftMs;
    // A third of the way to the expiry.
    this.#heartbeatDueAtMs = now + Math.max(0, leftMs) / 3;
    return registration;
  }

  /**
   * Before a receive: re-register and re-list when the agent may have missed changes (silent past
   * its queue's retention) or lost its registration (past its expiry, or unknown to the API);
   * read the registration (the heartbeat) when it is due.
   */
  async #keepContinuity(): Promise<void> {
    const registration = this.#registration;
    if (registration === undefined) return;
    const now = this.#now();
    const margin = this.#options.outageMarginMs ?? 60_000;
    const retentionMs = (registration.queueRetentionSeconds ?? Number.POSITIVE_INFINITY) * 1000;
    if (this.#lastReceivedAtMs !== undefined && now - this.#lastReceivedAtMs > retentionMs - margin)
      return this.#recover("retention");
    if (this.#expiresAtMs !== undefined && now >= this.#expiresAtMs) return this.#recover("expired");
    if (this.#heartbeatDueAtMs === undefined || now < this.#heartbeatDueAtMs) return;
    const response = await this.#request(
      "GET",
      `/v1/watchers/${encodeURIComponent(this.#options.node)}`,
      undefined,
      [404],
    );
    if (response.status === 404) {
      await response.text();
      return this.#recover("unregistered");
    }
    this.stats.heartbeats++;
    const refreshed = (await response.json()) as WatcherRegistration;
    if (refreshed.queueUrl !== registration.queueUrl) return this.#recover("queue-gone");
    this.#registered(refreshed, response);
  }

  /** The queue may have lost changes or be gone: a (new) channel first, then a fresh list. */
  async #recover(reason: RecoveryReason): Promise<void> {
    this.stats.recoveries++;
    this.stats.lastRecovery = reason;
    await this.register();
    await this.relist();
    this.#lastReceivedAtMs = this.#now();
  }

  /**
   * Reports the applied watermark (POST /v1/watchers/{node}/applied), so the pipeline can tell
   * when every node applied a change. false: nothing to report yet, or the API does not know the
   * node (the next heartbeat recovers the registration).
   */
  async acknowledge(): Promise<boolean> {
    const through = this.#appliedThroughMs;
    if (through === undefined || this.#registration === undefined) return false;
    const response = await this.#request(
      "POST",
      `/v1/watchers/${encodeURIComponent(this.#options.node)}/applied`,
      JSON.stringify({ appliedThroughMs: through }),
      [404],
    );
    await response.text();
    return response.status !== 404;
  }

  /** false when the API did not know the node. */
  async deregister(): Promise<boolean> {
    const response = await this.#request(
      "DELETE",
      `/v1/watchers/${encodeURIComponent(this.#options.node)}`,
      undefined,
      [404],
    );
    await response.text();
    this.#registration = undefined;
    return response.status !== 404;
  }

  /** The snapshot of every watched kind, page by page; call after register. */
  async list(): Promise<void> {
    for (const kind of this.#options.kinds) {
      const resource = API_RESOURCES[kind];
      const path = `/apis/${resource.groupVersion}/${resource.plural}`;
      const items: OutputObject[] = [];
      let listVersion = "0";
      let token: string | undefined;
      do {
        const query = new URLSearchParams({ limit: String(this.#options.listPageSize ?? 500) });
        if (token !== undefined) query.set("continue", token);
        const response = await this.#request("GET", `${path}?${query}`);
        const page = this.#countRead(await response.text()) as {
          items: OutputObject[];
          metadata: { resourceVersion?: string; continue?: string };
        };
        this.stats.objectsRead += page.items.length;
        for (const item of page.items) {
          const view = this.#view(item);
          if (view !== undefined) items.push(view);
        }
        const version = page.metadata.resourceVersion ?? "0";
        if (compareResourceVersions(version, listVersion) > 0) listVersion = version;
        token = page.metadata.continue === "" ? undefined : page.metadata.continue;
      } while (token !== undefined);
      this.cache.replaceFromList(kind, items, listVersion);
    }
  }

  /** After a restart: forget everything and list again (the queue's backlog then applies on top). */
  async relist(): Promise<void> {
    this.forget();
    this.stats.relists++;
    await this.list();
  }

  /** What a crash loses: the cache and the patches held for their base (not the queue). */
  forget(): void {
    this.cache.clear();
    this.#gaps.clear();
  }

  /**
   * One ReceiveMessage on the agent's queue: apply, delete, record. Held gaps whose grace ran out
   * are resolved before and after.
   */
  async pollOnce(waitSeconds: number, maxMessages = 10, signal?: AbortSignal): Promise<PollResult> {
    if (this.#registration === undefined)
      throw new WatcherNotRegisteredError(`watcher ${this.#options.node} is not registered`);
    await this.#keepContinuity();
    const queueUrl = this.#registration.queueUrl;
    const appliedBefore = this.stats.applied;
    await this.resolveExpiredGaps();
    const newestBefore = this.#newestSourceTimeMs;
    let received: ReceiveMessageCommandOutput;
    try {
      received = await this.#options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: maxMessages,
          WaitTimeSeconds: this.#waitSeconds(waitSeconds),
          ...(this.#options.onApplied === undefined
            ? {}
            : { MessageSystemAttributeNames: ["SentTimestamp"] }),
        }),
        signal === undefined ? {} : { abortSignal: signal },
      );
    } catch (error) {
      if (!isQueueGone(error)) throw error;
      await this.#recover("queue-gone");
      return { received: 0, applied: this.stats.applied - appliedBefore };
    }
    const receivedAtMs = this.#now();
    this.#lastReceivedAtMs = receivedAtMs;
    const messages = received.Messages ?? [];
    for (const message of messages) {
      const body = message.Body ?? "";
      this.stats.messages++;
      this.stats.bytes += Buffer.byteLength(body);
      let changes: BundledChange[];
      try {
        changes = changesOfBody(body, { validate: this.#options.validateBodies === true });
      } catch (error) {
        if (!(error instanceof MalformedChangeError)) throw error;
        this.stats.malformed++;
        continue;
      }
      const sent = Number(message.Attributes?.SentTimestamp);
      this.#delivery = {
        enqueuedAtMs: Number.isFinite(sent) && sent > 0 ? sent : undefined,
        receivedAtMs,
      };
      try {
        for (const change of changes) await this.#receive(change);
      } finally {
        this.#delivery = undefined;
      }
    }
    const handles = messages.map((message) => ({ queueUrl, receiptHandle: message.ReceiptHandle ?? "" }));
    if (this.#options.deferDeletes === true) this.#pendingDeletes.push(...handles);
    else await this.#deleteMessages(handles);
    await this.resolveExpiredGaps();
    // Empty at the receive, nothing waiting: everything delivered before it is applied.
    if (messages.length === 0 && this.#gaps.size === 0) {
      this.stats.drained++;
      const through = newestBefore ?? this.#newestSourceTimeMs;
      if (through !== undefined && (this.#appliedThroughMs === undefined || through > this.#appliedThroughMs))
        this.#appliedThroughMs = through;
    }
    this.#rotateTombstonesWhenDue();
    return { received: messages.length, applied: this.stats.applied - appliedBefore };
  }

  /** Deletes the messages received since the last call (deferDeletes); returns how many. */
  async flushDeletes(): Promise<number> {
    const handles = this.#pendingDeletes;
    this.#pendingDeletes = [];
    await this.#deleteMessages(handles);
    return handles.length;
  }

  /**
   * An expired receipt handle or a gone queue fails its entry, not the batch: that message comes
   * again (duplicates are harmless) or went with its queue.
   */
  async #deleteMessages(
    handles: ReadonlyArray<{ readonly queueUrl: string; readonly receiptHandle: string }>,
  ): Promise<void> {
    const byQueue = Map.groupBy(handles, (handle) => handle.queueUrl);
    for (const [queueUrl, ofQueue] of byQueue) {
      for (let start = 0; start < ofQueue.length; start += 10) {
        const batch = ofQueue.slice(start, start + 10);
        try {
          await this.#options.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: batch.map((handle, i) => ({ Id: String(i), ReceiptHandle: handle.receiptHandle })),
            }),
          );
        } catch (error) {
          if (!isQueueGone(error)) throw error;
        }
      }
    }
  }

  /**
   * Everything needed to resume without a list (call between polls; with deferDeletes, save it
   * before flushDeletes).
   */
  exportState(): WatcherAgentState {
    const registration = this.#registration;
    if (registration === undefined)
      throw new WatcherNotRegisteredError(`watcher ${this.#options.node} is not registered`);
    return {
      format: AGENT_STATE_FORMAT,
      node: this.#options.node,
      kinds: [...this.#options.kinds],
      zone: this.#options.zone,
      zoneOnly: this.#options.zoneOnly ?? false,
      queueUrl: registration.queueUrl,
      registeredAtMs: registration.registeredAtMs,
      lastReceivedAtMs: this.#lastReceivedAtMs ?? this.#now(),
      expiresAtMs: this.#expiresAtMs,
      savedAtMs: this.#now(),
      appliedThroughMs: this.#appliedThroughMs,
      newestSourceTimeMs: this.#newestSourceTimeMs,
      cache: this.cache.exportState(),
      held: this.#gaps.entries().map((gap) => ({ ref: gap.ref, changes: [...gap.changes] })),
    };
  }

  /**
   * Instead of register + list after a restart: restores the saved cache, registers (idempotent
   * while the registration lives: the same queue, its backlog intact) and continues from the
   * queue. Lists again when the state cannot be continued: saved by another kind of watcher,
   * silent past the queue's retention (changes may have been dropped), past the registration's
   * expiry, or registered anew meanwhile (a new queue: the old backlog is gone).
   */
  async resume(state: WatcherAgentState): Promise<ResumeOutcome> {
    const { node, zone, zoneOnly, kinds } = this.#options;
    const sameWatcher =
      state.format === AGENT_STATE_FORMAT &&
      state.node === node &&
      state.zone === zone &&
      state.zoneOnly === (zoneOnly ?? false) &&
      [...state.kinds].sort().join() === [...kinds].sort().join();
    const now = this.#now();
    const margin = this.#options.outageMarginMs ?? 60_000;
    let reason: Exclude<ResumeOutcome, { resumed: true }>["reason"] | undefined;
    if (!sameWatcher) reason = "other-watcher";
    else if (state.expiresAtMs !== undefined && now >= state.expiresAtMs - margin) reason = "expired";
    if (reason === undefined) {
      this.cache.restoreState(state.cache);
      this.#gaps.clear();
      for (const gap of state.held)
        for (const change of gap.changes) this.#gaps.hold(cacheKey(gap.ref), gap.ref, change, now);
      this.#lastReceivedAtMs = state.lastReceivedAtMs;
      this.#appliedThroughMs = state.appliedThroughMs;
      this.#newestSourceTimeMs = state.newestSourceTimeMs;
    }
    const registration = await this.register();
    if (reason === undefined) {
      const retentionMs = registration.queueRetentionSeconds * 1000;
      if (now - state.lastReceivedAtMs > retentionMs - margin) reason = "retention";
      else if (
        registration.queueUrl !== state.queueUrl ||
        registration.registeredAtMs !== state.registeredAtMs
      )
        reason = "new-registration";
    }
    if (reason === undefined) return { resumed: true };
    await this.relist();
    this.#lastReceivedAtMs = this.#now();
    return { resumed: false, reason };
  }

  /**
   * A long poll on a quiet queue would hold a gap past its grace for up to the whole wait (20 s):
   * return when the first grace runs out, so its re-read is not late.
   */
  #waitSeconds(waitSeconds: number): number {
    const deadline = this.#gaps.nextDeadlineMs();
    if (deadline === undefined) return waitSeconds;
    return Math.max(0, Math.min(waitSeconds, Math.ceil((deadline - this.#now()) / 1000)));
  }

  /** Re-reads the objects whose held patches waited out their grace (kept held if a read fails). */
  async resolveExpiredGaps(): Promise<void> {
    for (const key of this.#gaps.expired(this.#now())) {
      const gap = this.#gaps.take(key);
      if (gap === undefined) continue;
      try {
        await this.#reread(gap.ref, gap.changes);
      } catch (error) {
        this.#gaps.restore(key, gap);
        throw error;
      }
      this.stats.gapsRefetched++;
    }
  }

  #rotateTombstonesWhenDue(): void {
    const now = this.#now();
    this.#tombstonesRotatedAtMs ??= now;
    if (now - this.#tombstonesRotatedAtMs < (this.#options.tombstoneRetentionMs ?? 5 * 60_000)) return;
    this.cache.rotateTombstones();
    this.#tombstonesRotatedAtMs = now;
  }

  /** Polls until `signal` aborts; errors are handed to `onError` and retried after a second. */
  async run(signal: AbortSignal, options: { waitSeconds?: number; onError?: (error: unknown) => void } = {}) {
    while (!signal.aborted) {
      try {
        await this.pollOnce(options.waitSeconds ?? 20, 10, signal);
      } catch (error) {
        if (signal.aborted) break;
        options.onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  async #receive(change: BundledChange): Promise<void> {
    if (!this.#kinds.has(change.kind)) {
      this.stats.ignored++;
      return;
    }
    const result = this.cache.apply(change);
    if (result.outcome === "applied") {
      this.#applied(change);
      this.#retryHeld(result.key);
    } else if (result.outcome === "duplicate") {
      this.stats.duplicates++;
      this.#sawSourceTime(change.sourceTimeMs);
    } else if (result.reason === "reference") {
      this.stats.referencesFetched++;
      await this.#reread(result.ref, [change]);
    } else if (result.reason === "unlisted") {
      this.stats.unlistedFetched++;
      await this.#reread(result.ref, [change]);
    } else {
      this.stats.gapsHeld++;
      this.#gaps.hold(result.key, result.ref, change, this.#now());
    }
  }

  #applied(change: BundledChange): void {
    this.#sawSourceTime(change.sourceTimeMs);
    this.stats.applied++;
    const now = this.#now();
    this.latency.record(now - change.sourceTimeMs);
    const delivery = this.#delivery;
    if (delivery !== undefined)
      this.#options.onApplied?.({ sourceTimeMs: change.sourceTimeMs, ...delivery, appliedAtMs: now });
  }

  #sawSourceTime(sourceTimeMs: number): void {
    if (this.#newestSourceTimeMs === undefined || sourceTimeMs > this.#newestSourceTimeMs)
      this.#newestSourceTimeMs = sourceTimeMs;
  }

  /** Held patches of the object, retried now that it moved on, until none applies any more. */
  #retryHeld(key: string): void {
    for (;;) {
      const gap = this.#gaps.take(key);
      if (gap === undefined) return;
      const waiting: BundledChange[] = [];
      let progressed = false;
      for (const change of gap.changes) {
        const result = this.cache.apply(change);
        if (result.outcome === "applied") {
          this.#applied(change);
          progressed = true;
        } else if (result.outcome === "duplicate") this.stats.duplicates++;
        else waiting.push(change);
      }
      this.#gaps.restore(key, { ...gap, changes: waiting });
      if (!progressed || waiting.length === 0) return;
    }
  }

  /**
   * Reads one object from the API in place of `changes` (404: it is gone). Changes the read already
   * covers count as applied now; newer ones are applied on top of it.
   */
  async #reread(ref: CacheObjectRef, changes: readonly BundledChange[]): Promise<void> {
    const fetched = await this.#getObject(ref);
    const object = fetched === undefined ? undefined : this.#view(fetched);
    const newest = changes.reduce(
      (max, change) =>
        compareResourceVersions(change.resourceVersion, max) > 0 ? change.resourceVersion : max,
      "0",
    );
    const version = fetched?.metadata.resourceVersion ?? newest;
    if (object === undefined)
      this.cache.removeObject(ref, compareResourceVersions(version, newest) > 0 ? version : newest);
    else
      this.cache.apply(
        {
          type: "MODIFIED",
          kind: ref.kind,
          ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }),
          name: ref.name,
          resourceVersion: version,
          sourceTimeMs: Math.min(...changes.map((change) => change.sourceTimeMs)),
          object,
        },
        { fromRead: true },
      );
    const later: BundledChange[] = [];
    for (const change of changes) {
      if (fetched === undefined || compareResourceVersions(change.resourceVersion, version) <= 0)
        this.#applied(change);
      else later.push(change);
    }
    // A reference the read did not reach yet (a lagging read) waits out a grace, not a read loop.
    for (const change of later) {
      if (change.reference === true) this.#gaps.hold(cacheKey(ref), ref, change, this.#now());
      else await this.#receive(change);
    }
    this.#retryHeld(cacheKey(ref));
  }

  async #getObject(ref: CacheObjectRef): Promise<OutputObject | undefined> {
    const resource = API_RESOURCES[ref.kind];
    const name = encodeURIComponent(ref.name);
    const path =
      ref.namespace === undefined
        ? `/apis/${resource.groupVersion}/${resource.plural}/${name}`
        : `/apis/${resource.groupVersion}/namespaces/${encodeURIComponent(ref.namespace)}/${resource.plural}/${name}`;
    const response = await this.#request("GET", path, undefined, [404]);
    if (response.status === 404) {
      await response.text();
      return undefined;
    }
    this.stats.objectsRead++;
    return this.#countRead(await response.text()) as OutputObject;
  }

  #countRead(text: string): unknown {
    this.stats.bytesRead += Buffer.byteLength(text);
    return JSON.parse(text);
  }

  /** What the agent holds of an object: a zone-only agent keeps its zone's endpoints, or nothing. */
  #view(object: OutputObject): OutputObject | undefined {
    const { zone, zoneOnly } = this.#options;
    if (!zoneOnly || zone === undefined || object.kind !== "EndpointSlice") return object;
    const endpoints = object.endpoints.filter((endpoint) => endpoint.zone === zone);
    return endpoints.length === 0 ? undefined : ({ ...object, endpoints } satisfies EndpointSlice);
  }

  async #request(
    method: string,
    path: string,
    body?: string,
    tolerated: readonly number[] = [],
  ): Promise<Response> {
    const response = await this.#fetch(`${this.#options.api.replace(/\/$/, "")}${path}`, {
      method,
      headers: {
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body }),
    });
    if (response.ok || tolerated.includes(response.status)) return response;
    const text = await response.text();
    let status: KubeStatus | undefined;
    try {
      const parsed = JSON.parse(text) as Partial<KubeStatus>;
      if (parsed.kind === "Status") status = parsed as KubeStatus;
    } catch {
      status = undefined;
    }
    throw new WatcherApiError(
      `${method} ${path}: ${response.status} ${status?.reason ?? ""} ${status?.message ?? text.slice(0, 200)}`.trim(),
      response.status,
      status,
    );
  }
}
