/**
 * The real WatcherRegistry: a watcher's channel (queue + subscriptions) on SQS/SNS, its record in
 * the watchers table. Registration opens the channel first and records it second, so a crash in
 * between leaves a channel that the next registration of the node reuses, never a record without
 * a channel.
 */
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { WatcherRegistration, WatcherRegistry, WatcherRequest } from "#shared/api/watcher-registry.ts";
import { scopesForWatcher } from "#shared/fanout/change-routing.ts";
import type { WatcherChannel, WatcherChannels } from "./watcher-channels.ts";

interface WatcherItem extends WatcherRegistration {
  readonly pk: string;
  readonly sk: string;
  readonly channel: WatcherChannel;
}

const SORT_KEY = "#watcher";

export class ChannelWatcherRegistry implements WatcherRegistry {
  readonly #channels: WatcherChannels;
  readonly #documents: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #now: () => number;

  constructor(
    channels: WatcherChannels,
    documents: DynamoDBDocumentClient,
    tableName: string,
    now = Date.now,
  ) {
    this.#channels = channels;
    this.#documents = documents;
    this.#tableName = tableName;
    this.#now = now;
  }

  async register(request: WatcherRequest): Promise<WatcherRegistration> {
    const previous = await this.#item(request.node);
    const zoneOnly = request.zoneOnly ?? false;
    const scopes = scopesForWatcher(request.kinds, request.zone, zoneOnly);
    const channel = await this.#channels.open(request.node, scopes, previous?.channel);
    const registration: WatcherRegistration = {
      node: request.node,
      zone: request.zone,
      kinds: [...request.kinds],
      zoneOnly,
      queueUrl: channel.queueUrl,
      registeredAtMs: previous?.registeredAtMs ?? this.#now(),
    };
    const item: WatcherItem = { pk: partitionKey(request.node), sk: SORT_KEY, ...registration, channel };
    await this.#documents.send(new PutCommand({ TableName: this.#tableName, Item: withoutUndefined(item) }));
    return registration;
  }

  async deregister(node: string): Promise<boolean> {
    const item = await this.#item(node);
    if (item === undefined) return false;
    await this.#channels.close(item.channel);
    await this.#documents.send(
      new DeleteCommand({ TableName: this.#tableName, Key: { pk: partitionKey(node), sk: SORT_KEY } }),
    );
    return true;
  }

  async get(node: string): Promise<WatcherRegistration | undefined> {
    const item = await this.#item(node);
    if (item === undefined) return undefined;
    const { pk: _pk, sk: _sk, channel: _channel, ...registration } = item;
    return registration;
  }

  async #item(node: string): Promise<WatcherItem | undefined> {
    const result = await this.#documents.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { pk: partitionKey(node), sk: SORT_KEY },
        ConsistentRead: true,
      }),
    );
    return result.Item as WatcherItem | undefined;
  }
}

/** The document client rejects undefined attributes; an absent zone is simply not stored. */
function withoutUndefined<T extends object>(item: T): T {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined)) as T;
}

function partitionKey(node: string): string {
  return `watcher#${node}`;
}
