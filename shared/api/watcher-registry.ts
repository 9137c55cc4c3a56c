/**
 * Watcher registration (docs/contract.md §4): the port the HTTP API calls, the request body it accepts,
 * and an in-memory registry for tests. The real registry (one SQS queue per watcher, subscribed
 * to the fan-out topics) implements the same port.
 */
import { z } from "zod";
import { OUTPUT_KINDS, type OutputKind } from "#shared/core/output-changes.ts";
import type { WatcherOwner } from "./watcher-authorization.ts";

export type WatchedKind = OutputKind;

export interface WatcherRequest {
  readonly node: string;
  readonly zone?: string | undefined;
  readonly kinds: readonly WatchedKind[];
  /** Topology-aware subsetting: deliver only endpoints of the watcher's own zone. */
  readonly zoneOnly?: boolean | undefined;
}

export interface WatcherRegistration {
  readonly node: string;
  readonly zone: string | undefined;
  readonly kinds: readonly WatchedKind[];
  readonly zoneOnly: boolean;
  /** The watcher's channel: the queue it receives its changes on. */
  readonly queueUrl: string;
  readonly registeredAtMs: number;
  /**
   * When the registration, its queue and its subscriptions are removed unless refreshed first (by
   * registering again, or by its owner's GET /v1/watchers/{node}).
   */
  readonly expiresAtMs: number;
  /** How long the queue keeps an undelivered change: a watcher silent for longer must re-list. */
  readonly queueRetentionSeconds: number;
}

export interface WatcherRegistry {
  /**
   * Creates the watcher's channel, or updates it if `owner` registered the node already (then it
   * also refreshes the expiry). Throws WatcherOwnedElsewhereError, WatcherCapExceededError,
   * WatcherBusyError, WatcherChannelConflictError.
   */
  register(request: WatcherRequest, owner: WatcherOwner): Promise<WatcherRegistration>;
  /** false when the node was not registered; WatcherOwnedElsewhereError unless owner or admin. */
  deregister(node: string, owner: WatcherOwner): Promise<boolean>;
  /** undefined when not registered or expired. */
  get(node: string): Promise<WatcherRegistration | undefined>;
  /** The heartbeat: pushes the expiry out if `owner` holds a live registration of the node. */
  refresh(node: string, owner: WatcherOwner): Promise<WatcherRegistration | undefined>;
  /** Removes expired registrations with their queues and subscriptions; returns how many. */
  sweepExpired(): Promise<number>;
  /**
   * Records the node's applied watermark (POST /v1/watchers/{node}/applied): its owner only
   * (WatcherOwnedElsewhereError otherwise); undefined when the node is not registered or expired.
   * A watermark no newer than the last one is kept out of the history (acks may cross).
   */
  acknowledge?(
    node: string,
    owner: WatcherOwner,
    appliedThroughMs: number,
  ): Promise<WatcherApplied | undefined>;
  /** The live registrations with their recent acknowledgements, for the convergence in /v1/stats. */
  appliedWatermarks?(): Promise<WatcherApplied[]>;
}

/** One acknowledgement: everything delivered with a source time up to appliedThroughMs is applied at atMs (API clock). */
export interface WatcherAck {
  readonly appliedThroughMs: number;
  readonly atMs: number;
}

/** A live registration's recent acknowledgements, oldest first. */
export interface WatcherApplied {
  readonly node: string;
  readonly registeredAtMs: number;
  readonly acks: readonly WatcherAck[];
  /** Acknowledgements ever recorded for the registration; more than acks.length: older ones were dropped. */
  readonly ackCount: number;
}

/** How many acknowledgements a registration keeps (the convergence's window: ~2.5 min at one per 5 s). */
export const WATCHER_ACKS_KEPT = 32;

/** The body of POST /v1/watchers/{node}/applied. */
export const watcherAckSchema = z.strictObject({
  appliedThroughMs: z.number().int().min(0).max(8.64e15),
});

/** Appends an acknowledgement to a history (pure): only a newer watermark, keeping the last WATCHER_ACKS_KEPT. */
export function withAck(applied: Omit<WatcherApplied, "node" | "registeredAtMs">, ack: WatcherAck) {
  const last = applied.acks.at(-1);
  if (last !== undefined && ack.appliedThroughMs <= last.appliedThroughMs) return undefined;
  return { acks: [...applied.acks, ack].slice(-WATCHER_ACKS_KEPT), ackCount: applied.ackCount + 1 };
}

/** The node is registered by another principal (and the registration is live or being removed). */
export class WatcherOwnedElsewhereError extends Error {
  override name = "WatcherOwnedElsewhereError";
}

/** The owner holds as many live registrations as its cap allows. */
export class WatcherCapExceededError extends Error {
  override name = "WatcherCapExceededError";
}

/**
 * The node's channel cannot be (re)created now: its queue was deleted less than 60 s ago (SQS
 * refuses the name meanwhile), or a concurrent change or removal of the registration won.
 */
export class WatcherBusyError extends Error {
  override name = "WatcherBusyError";
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A queue of the channel's name exists with other attributes (SQS QueueNameExists). */
export class WatcherChannelConflictError extends Error {
  override name = "WatcherChannelConflictError";
}

/** SQS waits 60 s before a deleted queue's name can be used again. */
export const QUEUE_NAME_REUSE_SECONDS = 60;
/** The retention of every watcher queue (SQS allows up to 14 days). */
export const WATCHER_QUEUE_RETENTION_SECONDS = 24 * 3600;
export const DEFAULT_WATCHER_TTL_SECONDS = 3600;

/** The input of the scheduled rule that invokes the API function to sweep expired watchers. */
export const WATCHER_SWEEP_EVENT = { sliceline: "sweep-watchers" } as const;

export function isWatcherSweepEvent(event: unknown): boolean {
  return (
    typeof event === "object" &&
    event !== null &&
    (event as { sliceline?: unknown }).sliceline === WATCHER_SWEEP_EVENT.sliceline
  );
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A node name as Kubernetes allows it (an RFC 1123 subdomain), also the path segment of its routes. */
export const nodeNameSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(DNS_SUBDOMAIN, "must be a lowercase RFC 1123 subdomain (a Kubernetes node name)");

/** The body of POST /v1/watchers. */
export const watcherRequestSchema = z
  .strictObject({
    node: nodeNameSchema,
    zone: z
      .string()
      .min(1)
      .max(63)
      .regex(LABEL_VALUE, "must be a valid label value (topology.kubernetes.io/zone)")
      .optional(),
    kinds: z
      .array(z.enum(OUTPUT_KINDS))
      .min(1, "name at least one kind")
      .transform((kinds) => [...new Set(kinds)]),
    zoneOnly: z.boolean().optional(),
  })
  .refine((request) => !request.zoneOnly || request.zone !== undefined, {
    message: "zoneOnly needs the watcher's zone",
    path: ["zone"],
  });

export interface MemoryWatcherRegistryOptions {
  readonly now?: () => number;
  readonly queueUrlOf?: (node: string) => string;
  readonly ttlSeconds?: number;
}

interface MemoryEntry {
  readonly registration: WatcherRegistration;
  readonly owner: string;
  readonly counted: boolean;
  readonly acks?: readonly WatcherAck[];
  readonly ackCount?: number;
}

/** The same rules as the channel registry (ownership, cap, expiry), in memory, for tests. */
export class MemoryWatcherRegistry implements WatcherRegistry {
  readonly #watchers = new Map<string, MemoryEntry>();
  readonly #now: () => number;
  readonly #queueUrlOf: (node: string) => string;
  readonly #ttlMs: number;

  constructor(options: MemoryWatcherRegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#queueUrlOf = options.queueUrlOf ?? ((node) => `memory://watchers/${node}`);
    this.#ttlMs = (options.ttlSeconds ?? DEFAULT_WATCHER_TTL_SECONDS) * 1000;
  }

  async register(request: WatcherRequest, owner: WatcherOwner): Promise<WatcherRegistration> {
    const now = this.#now();
    const previous = this.#watchers.get(request.node);
    if (previous !== undefined && previous.owner !== owner.principal)
      throw new WatcherOwnedElsewhereError(`node ${request.node} is registered by another principal`);
    const counted = previous?.counted ?? owner.cap !== undefined;
    if (previous === undefined && owner.cap !== undefined && this.#held(owner.principal) >= owner.cap)
      throw new WatcherCapExceededError(`${owner.principal} holds ${owner.cap} watchers already`);
    const registration: WatcherRegistration = {
      node: request.node,
      zone: request.zone,
      kinds: [...new Set(request.kinds)],
      zoneOnly: request.zoneOnly ?? false,
      queueUrl: this.#queueUrlOf(request.node),
      registeredAtMs: previous?.registration.registeredAtMs ?? now,
      expiresAtMs: now + this.#ttlMs,
      queueRetentionSeconds: WATCHER_QUEUE_RETENTION_SECONDS,
    };
    this.#watchers.set(request.node, {
      registration,
      owner: owner.principal,
      counted,
      ...(previous?.acks === undefined ? {} : { acks: previous.acks, ackCount: previous.ackCount }),
    });
    return registration;
  }

  async deregister(node: string, owner: WatcherOwner): Promise<boolean> {
    const entry = this.#watchers.get(node);
    if (entry === undefined) return false;
    if (entry.owner !== owner.principal && !owner.admin)
      throw new WatcherOwnedElsewhereError(`node ${node} is registered by another principal`);
    return this.#watchers.delete(node);
  }

  async get(node: string): Promise<WatcherRegistration | undefined> {
    const entry = this.#watchers.get(node);
    return entry === undefined || entry.registration.expiresAtMs <= this.#now()
      ? undefined
      : entry.registration;
  }

  async refresh(node: string, owner: WatcherOwner): Promise<WatcherRegistration | undefined> {
    const entry = this.#watchers.get(node);
    const now = this.#now();
    if (entry === undefined || entry.registration.expiresAtMs <= now) return undefined;
    if (entry.owner !== owner.principal) return entry.registration;
    const registration = { ...entry.registration, expiresAtMs: now + this.#ttlMs };
    this.#watchers.set(node, { ...entry, registration });
    return registration;
  }

  async acknowledge(
    node: string,
    owner: WatcherOwner,
    appliedThroughMs: number,
  ): Promise<WatcherApplied | undefined> {
    const entry = this.#watchers.get(node);
    const now = this.#now();
    if (entry === undefined || entry.registration.expiresAtMs <= now) return undefined;
    if (entry.owner !== owner.principal)
      throw new WatcherOwnedElsewhereError(`node ${node} is registered by another principal`);
    const history = { acks: entry.acks ?? [], ackCount: entry.ackCount ?? 0 };
    const next = withAck(history, { appliedThroughMs, atMs: now }) ?? history;
    this.#watchers.set(node, { ...entry, ...next });
    return { node, registeredAtMs: entry.registration.registeredAtMs, ...next };
  }

  async appliedWatermarks(): Promise<WatcherApplied[]> {
    const now = this.#now();
    return [...this.#watchers.values()]
      .filter((entry) => entry.registration.expiresAtMs > now)
      .map((entry) => ({
        node: entry.registration.node,
        registeredAtMs: entry.registration.registeredAtMs,
        acks: entry.acks ?? [],
        ackCount: entry.ackCount ?? 0,
      }));
  }

  async sweepExpired(): Promise<number> {
    const now = this.#now();
    let swept = 0;
    for (const [node, entry] of this.#watchers) {
      if (entry.registration.expiresAtMs > now) continue;
      this.#watchers.delete(node);
      swept++;
    }
    return swept;
  }

  all(): WatcherRegistration[] {
    return [...this.#watchers.values()].map((entry) => entry.registration);
  }

  #held(principal: string): number {
    return [...this.#watchers.values()].filter((entry) => entry.owner === principal && entry.counted).length;
  }
}
