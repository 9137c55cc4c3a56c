/**
 * Where the API function gets its WatcherRegistry: the ChannelWatcherRegistry (a queue per
 * watcher subscribed to the change topics, recorded in the watchers table) when the function's
 * environment names the watchers table, the change topics and the queue prefix
 * (functions/commons/environment.ts); otherwise none,
 * and the watcher routes answer 500 "watcher registry not configured" instead of faking success.
 *
 * The adapter's own errors that are the caller's fault (a scope with no topic) become 400s here,
 * so the router stays storage-agnostic.
 */
import type { SNSClient } from "@aws-sdk/client-sns";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { ApiEnvironment } from "#functions/commons/environment.ts";
import { ChannelWatcherRegistry } from "#shared/adapters/watchers/channel-watcher-registry.ts";
import { UnknownScopeError, WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import { badRequest } from "#shared/api/status.ts";
import type { WatcherAuthorizationPolicy, WatcherOwner } from "#shared/api/watcher-authorization.ts";
import type {
  WatcherApplied,
  WatcherRegistration,
  WatcherRegistry,
  WatcherRequest,
} from "#shared/api/watcher-registry.ts";

export interface WatcherRegistryClients {
  readonly documents: DynamoDBDocumentClient;
  /** Called only when the registry is configured, so an unconfigured function builds no clients. */
  readonly sqs: () => SQSClient;
  readonly sns: () => SNSClient;
}

export interface WatcherRegistryChoice {
  readonly registry: WatcherRegistry | undefined;
  /** Why there is none (for the cold-start log), when there is none. */
  readonly problem: string | undefined;
  /** Who may act on which watcher; DENY_ALL_POLICY when the setting is missing or invalid. */
  readonly authorization: WatcherAuthorizationPolicy;
  /** Why every caller is denied (for the cold-start log), when the policy is unusable. */
  readonly authorizationProblem: string | undefined;
}

export function createWatcherRegistry(
  environment: Pick<ApiEnvironment, "watchers" | "authorization">,
  clients: WatcherRegistryClients,
): WatcherRegistryChoice {
  const { watchers: settings, authorization } = environment;
  const decided = { authorization: authorization.policy, authorizationProblem: authorization.problem };
  if (settings.problem !== undefined) return { registry: undefined, problem: settings.problem, ...decided };
  const channels = new WatcherChannels(
    clients.sqs(),
    clients.sns(),
    settings.topicArns,
    settings.queueNamePrefix,
  );
  const registry = new ChannelWatcherRegistry(channels, clients.documents, settings.watchersTable, {
    ...(settings.ttlSeconds === undefined ? {} : { ttlSeconds: settings.ttlSeconds }),
    // /v1/stats' convergence scans the watchers table: at most once per 5 s per container.
    watermarksCacheMs: 5000,
  });
  return { registry: new CallerErrorsAs400(registry), problem: undefined, ...decided };
}

class CallerErrorsAs400 implements WatcherRegistry {
  readonly #inner: WatcherRegistry;

  constructor(inner: WatcherRegistry) {
    this.#inner = inner;
  }

  async register(request: WatcherRequest, owner: WatcherOwner): Promise<WatcherRegistration> {
    try {
      return await this.#inner.register(request, owner);
    } catch (error) {
      if (error instanceof UnknownScopeError)
        throw badRequest(`cannot watch this selection: ${error.message}`);
      throw error;
    }
  }

  deregister(node: string, owner: WatcherOwner): Promise<boolean> {
    return this.#inner.deregister(node, owner);
  }

  get(node: string): Promise<WatcherRegistration | undefined> {
    return this.#inner.get(node);
  }

  refresh(node: string, owner: WatcherOwner): Promise<WatcherRegistration | undefined> {
    return this.#inner.refresh(node, owner);
  }

  sweepExpired(): Promise<number> {
    return this.#inner.sweepExpired();
  }

  async acknowledge(
    node: string,
    owner: WatcherOwner,
    appliedThroughMs: number,
  ): Promise<WatcherApplied | undefined> {
    return this.#inner.acknowledge?.(node, owner, appliedThroughMs);
  }

  async appliedWatermarks(): Promise<WatcherApplied[]> {
    return (await this.#inner.appliedWatermarks?.()) ?? [];
  }
}
