/**
 * Watcher registration (contract §4): the port the HTTP API calls, the request body it accepts,
 * and an in-memory registry for tests. The real registry (one SQS queue per watcher, subscribed
 * to the fan-out topics) implements the same port.
 */
import { z } from "zod";
import type { OutputKind } from "#shared/core/output-changes.ts";

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
}

export interface WatcherRegistry {
  /** Creates the watcher's channel, or updates it if the node is registered already. */
  register(request: WatcherRequest): Promise<WatcherRegistration>;
  /** false when the node was not registered. */
  deregister(node: string): Promise<boolean>;
  get(node: string): Promise<WatcherRegistration | undefined>;
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
      .array(z.enum(["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"]))
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
}

export class MemoryWatcherRegistry implements WatcherRegistry {
  readonly #watchers = new Map<string, WatcherRegistration>();
  readonly #now: () => number;
  readonly #queueUrlOf: (node: string) => string;

  constructor(options: MemoryWatcherRegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#queueUrlOf = options.queueUrlOf ?? ((node) => `memory://watchers/${node}`);
  }

  async register(request: WatcherRequest): Promise<WatcherRegistration> {
    const registration: WatcherRegistration = {
      node: request.node,
      zone: request.zone,
      kinds: [...new Set(request.kinds)],
      zoneOnly: request.zoneOnly ?? false,
      queueUrl: this.#queueUrlOf(request.node),
      registeredAtMs: this.#watchers.get(request.node)?.registeredAtMs ?? this.#now(),
    };
    this.#watchers.set(request.node, registration);
    return registration;
  }

  async deregister(node: string): Promise<boolean> {
    return this.#watchers.delete(node);
  }

  async get(node: string): Promise<WatcherRegistration | undefined> {
    return this.#watchers.get(node);
  }

  all(): WatcherRegistration[] {
    return [...this.#watchers.values()];
  }
}
