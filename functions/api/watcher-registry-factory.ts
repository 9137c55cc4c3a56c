/**
 * Where the API function gets its WatcherRegistry: the ChannelWatcherRegistry (a queue per
 * watcher subscribed to the change topics, recorded in the watchers table) when the function's
 * environment names the watchers table, the change topics and the queue prefix; otherwise none,
 * and the watcher routes answer 500 "watcher registry not configured" instead of faking success.
 *
 * The adapter's own errors that are the caller's fault (a scope with no topic) become 400s here,
 * so the router stays storage-agnostic.
 */
import type { SNSClient } from "@aws-sdk/client-sns";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { ChannelWatcherRegistry } from "#shared/adapters/watchers/channel-watcher-registry.ts";
import { UnknownScopeError, WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import { badRequest } from "#shared/api/status.ts";
import {
  DENY_ALL_POLICY,
  type WatcherAuthorizationPolicy,
  type WatcherOwner,
  watcherAuthorizationPolicySchema,
} from "#shared/api/watcher-authorization.ts";
import type {
  WatcherApplied,
  WatcherRegistration,
  WatcherRegistry,
  WatcherRequest,
} from "#shared/api/watcher-registry.ts";
import { changeTopicArnsFromEnvironment } from "#shared/config/environment.ts";
import { ENV } from "#shared/config/resources.ts";

/** The variable the WatcherChannels construct sets. */
export const WATCHER_QUEUE_PREFIX_ENV = ENV.watcherQueuePrefix;

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

/** The stack's policy (ENV.watcherAuthorization); fails closed, with the reason, when unusable. */
export function watcherAuthorizationFromEnvironment(source: NodeJS.ProcessEnv): {
  policy: WatcherAuthorizationPolicy;
  problem: string | undefined;
} {
  const text = source[ENV.watcherAuthorization] ?? "";
  if (text === "")
    return {
      policy: DENY_ALL_POLICY,
      problem: `missing ${ENV.watcherAuthorization}: every caller is denied`,
    };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {
      policy: DENY_ALL_POLICY,
      problem: `${ENV.watcherAuthorization} is not JSON: every caller is denied`,
    };
  }
  const result = watcherAuthorizationPolicySchema.safeParse(parsed);
  if (!result.success)
    return {
      policy: DENY_ALL_POLICY,
      problem: `${ENV.watcherAuthorization} is invalid (${result.error.issues.map((i) => i.message).join("; ")}): every caller is denied`,
    };
  return { policy: result.data, problem: undefined };
}

export function createWatcherRegistry(
  source: NodeJS.ProcessEnv,
  clients: WatcherRegistryClients,
): WatcherRegistryChoice {
  const authorization = watcherAuthorizationFromEnvironment(source);
  const names = [ENV.watchersTable, ENV.changeTopicArns, WATCHER_QUEUE_PREFIX_ENV];
  const missing = names.filter((name) => (source[name] ?? "") === "");
  if (missing.length > 0)
    return {
      registry: undefined,
      problem: `missing ${missing.join(", ")}`,
      ...authorizationOf(authorization),
    };
  let topicArns: Record<string, string>;
  try {
    topicArns = changeTopicArnsFromEnvironment(source);
  } catch (error) {
    return { registry: undefined, problem: (error as Error).message, ...authorizationOf(authorization) };
  }
  const ttl = Number(source[ENV.watcherTtlSeconds] ?? "");
  const ttlSeconds = Number.isInteger(ttl) && ttl > 0 ? ttl : undefined;
  const channels = new WatcherChannels(
    clients.sqs(),
    clients.sns(),
    topicArns,
    source[WATCHER_QUEUE_PREFIX_ENV] as string,
  );
  const registry = new ChannelWatcherRegistry(
    channels,
    clients.documents,
    source[ENV.watchersTable] as string,
    {
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      // /v1/stats' convergence scans the watchers table: at most once per 5 s per container.
      watermarksCacheMs: 5000,
    },
  );
  return { registry: new CallerErrorsAs400(registry), problem: undefined, ...authorizationOf(authorization) };
}

function authorizationOf(decided: { policy: WatcherAuthorizationPolicy; problem: string | undefined }) {
  return { authorization: decided.policy, authorizationProblem: decided.problem };
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
