/**
 * DynamoDB Local for integration tests: the jar shipped by amplify-dynamodb-simulator, in memory,
 * on a free port of 127.0.0.1, with sliceline's tables created from TABLE_SCHEMAS.
 *
 * One instance per test file (start it in `before`, stop it in `after`). The Java process runs
 * under a small shell guard that kills it as soon as the guard's stdin closes, which happens when
 * stop() is called and also when the Node process dies for any reason (a failed assertion, an
 * uncaught error, even SIGKILL), so no DynamoDB Local outlives its test run.
 *
 * Endpoints are not passed to the code under test: like in AWS, the SDK reads them from the
 * environment (AWS_ENDPOINT_URL_DYNAMODB), which start() sets, with dummy credentials and region.
 */
import {
  type AttributeDefinition,
  type AttributeValue,
  CreateTableCommand,
  DynamoDBClient,
  ScanCommand,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { startDynamoDbLocal as startDynamoDbBackend } from "#scripts/local/backends.ts";
import { objectFrom } from "#shared/adapters/dynamodb/items.ts";
import {
  IDENTITIES_TABLE,
  SLICES_TABLE,
  STATE_TABLE,
  TABLE_SCHEMAS,
  type TableSchema,
} from "#shared/config/table-schemas.ts";
import { storageKey } from "#shared/core/memory-store.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";

export interface DynamoDbLocal {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Table name per logical id (StateTable, SlicesTable, ...), also exported as the ENV variables. */
  readonly tableNames: Readonly<Record<string, string>>;
  /** A plain client on this instance (the SDK finds the endpoint in the environment). */
  readonly client: DynamoDBClient;
  /** Another empty set of the tables (state, slices, identities), for a test that needs a clean slate. */
  freshTables(): Promise<{ state: string; slices: string; identities: string }>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Prefix for table names, so several stores can share one instance. */
  readonly tablePrefix?: string;
  readonly startTimeoutMs?: number;
}

export async function startDynamoDbLocal(options: StartOptions = {}): Promise<DynamoDbLocal> {
  // The same guarded Java process the local runner starts: it dies with this process, whatever happens.
  const backend = await startDynamoDbBackend(0, options.startTimeoutMs ?? 30_000);
  const endpoint = backend.endpoint;
  setSdkEnvironment(endpoint);
  const client = new DynamoDBClient({ maxAttempts: 2 });
  const stop = async (): Promise<void> => {
    client.destroy();
    await backend.stop();
  };
  try {
    const tableNames: Record<string, string> = {};
    for (const schema of TABLE_SCHEMAS) {
      const name = `${options.tablePrefix ?? "sliceline-test-"}${schema.logicalId}`;
      await createTable(client, name, schema);
      tableNames[schema.logicalId] = name;
      process.env[schema.envName] = name;
    }
    let generation = 0;
    const freshTables = async () => {
      const prefix = `t${++generation}-`;
      const names: Record<string, string> = {};
      await Promise.all(
        [STATE_TABLE, SLICES_TABLE, IDENTITIES_TABLE].map(async (schema) => {
          names[schema.logicalId] = `${prefix}${schema.logicalId}`;
          await createTable(client, `${prefix}${schema.logicalId}`, schema);
        }),
      );
      return {
        state: names[STATE_TABLE.logicalId] as string,
        slices: names[SLICES_TABLE.logicalId] as string,
        identities: names[IDENTITIES_TABLE.logicalId] as string,
      };
    };
    return { endpoint, tableNames, client, freshTables, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Creates one table as the CDK app would: keys, GSIs, stream, TTL. */
export async function createTable(client: DynamoDBClient, name: string, schema: TableSchema): Promise<void> {
  const attributes = new Map<string, "S" | "N">([
    [schema.partitionKey, "S"],
    [schema.sortKey, "S"],
  ]);
  for (const index of schema.globalIndexes) {
    attributes.set(index.partitionKey, "S");
    if (index.sortKey !== undefined) attributes.set(index.sortKey, index.sortKeyType ?? "S");
  }
  const attributeDefinitions: AttributeDefinition[] = [...attributes].map(
    ([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    }),
  );
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: attributeDefinitions,
      KeySchema: [
        { AttributeName: schema.partitionKey, KeyType: "HASH" },
        { AttributeName: schema.sortKey, KeyType: "RANGE" },
      ],
      GlobalSecondaryIndexes:
        schema.globalIndexes.length === 0
          ? undefined
          : schema.globalIndexes.map((index) => ({
              IndexName: index.name,
              KeySchema: [
                { AttributeName: index.partitionKey, KeyType: "HASH" as const },
                ...(index.sortKey === undefined
                  ? []
                  : [{ AttributeName: index.sortKey, KeyType: "RANGE" as const }]),
              ],
              Projection: { ProjectionType: index.projection },
            })),
      StreamSpecification:
        schema.stream === undefined ? undefined : { StreamEnabled: true, StreamViewType: schema.stream },
    }),
  );
  if (schema.timeToLiveAttribute !== undefined) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { Enabled: true, AttributeName: schema.timeToLiveAttribute },
      }),
    );
  }
}

function setSdkEnvironment(endpoint: string): void {
  process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
  process.env.AWS_ACCESS_KEY_ID = "local";
  process.env.AWS_SECRET_ACCESS_KEY = "local";
  process.env.AWS_REGION = "us-east-1";
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
}

/** Every item of a table (tests only: a Scan). */
export async function scanAll(
  client: DynamoDBClient,
  table: string,
): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: startKey, ConsistentRead: true }),
    );
    for (const item of page.Items ?? []) items.push(unmarshall(item));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}

/** The slices table as the memory store keeps objects: kind -> storage key -> object. */
export async function storedObjects(
  client: DynamoDBClient,
  slicesTable: string,
): Promise<Record<OutputKind, Map<string, OutputObject>>> {
  const objects: Record<OutputKind, Map<string, OutputObject>> = {
    EndpointSlice: new Map(),
    CiliumEndpointSlice: new Map(),
    CiliumIdentity: new Map(),
  };
  for (const item of await scanAll(client, slicesTable)) {
    const object = objectFrom<OutputObject>(item);
    objects[object.kind].set(storageKey(object), object);
  }
  return objects;
}

/**
 * The adapter's own invariants, read back from the tables: every pod's identity exists and its
 * per-namespace reference count equals the pods holding it, unheld identities are collection
 * candidates, label mappings and identities pair up one to one, the cursor counts the identities,
 * no commit is left pending, every CES entry's identity is published with its CiliumIdentity.
 */
export async function checkStoreInvariants(
  client: DynamoDBClient,
  tables: { state: string; slices: string; identities: string },
): Promise<void> {
  const fail = (message: string): never => {
    throw new Error(`store invariant: ${message}`);
  };
  const state = await scanAll(client, tables.state);
  const identities = await scanAll(client, tables.identities);
  const objects = await storedObjects(client, tables.slices);

  const held = new Map<number, Map<string, number>>();
  for (const item of state) {
    const pk = String(item.pk);
    // An intent whose claim never happened (a crash before it) is garbage that expires by TTL.
    if (pk.startsWith("intent#") && typeof item.expiresAt !== "number")
      fail(`intent item without TTL: ${pk}`);
    if (pk === "#pending") fail(`pending registration left: ${String(item.sk)}`);
    if (String(item.sk) === "#meta" && item.pending !== undefined) fail(`meta of ${pk} still pending`);
    if (!String(item.sk).startsWith("pod#") || typeof item.identity !== "number") continue;
    if (item.record === undefined) fail(`tombstone ${pk}/${String(item.sk)} holds an identity`);
    const namespace = pk.slice("group#".length);
    const counts = held.get(item.identity) ?? new Map<string, number>();
    counts.set(namespace, (counts.get(namespace) ?? 0) + 1);
    held.set(item.identity, counts);
  }
  const byId = new Map<number, Record<string, unknown>>();
  const mappings = new Map<string, number>();
  let cursor: Record<string, unknown> | undefined;
  for (const item of identities) {
    const pk = String(item.pk);
    if (pk.startsWith("id#")) byId.set(Number(item.id), item);
    else if (pk.startsWith("labels#")) mappings.set(String(item.labelSetKey), Number(item.id));
    else if (pk === "#cursor") cursor = item;
  }
  if (Number(cursor?.allocated ?? 0) !== byId.size)
    fail(`cursor counts ${String(cursor?.allocated)} identities, ${byId.size} exist`);
  if (mappings.size !== byId.size) fail(`${mappings.size} label mappings for ${byId.size} identities`);
  for (const [key, id] of mappings) {
    if (byId.get(id)?.labelSetKey !== key) fail(`mapping ${key} -> ${id} does not match identity ${id}`);
  }
  for (const [id, item] of byId) {
    const refs = (item.refs ?? {}) as Record<string, number>;
    const expected = Object.fromEntries(held.get(id) ?? []);
    if (JSON.stringify(sortedEntries(refs)) !== JSON.stringify(sortedEntries(expected)))
      fail(`identity ${id} refs ${JSON.stringify(refs)}, pods hold ${JSON.stringify(expected)}`);
    const candidate = item.gcCandidate === "yes" && typeof item.unusedSinceMs === "number";
    if (Object.keys(refs).length === 0 && !candidate) fail(`unheld identity ${id} is no GC candidate`);
    if (Object.keys(refs).length > 0 && item.published !== true) fail(`held identity ${id} is unpublished`);
    if (item.published === true && !objects.CiliumIdentity.has(String(id)))
      fail(`published identity ${id} has no CiliumIdentity object`);
  }
  for (const name of objects.CiliumIdentity.keys()) {
    if (!byId.has(Number(name))) fail(`CiliumIdentity ${name} has no identity item`);
  }
  for (const id of held.keys()) if (!byId.has(id)) fail(`pods hold missing identity ${id}`);
}

function sortedEntries(record: Record<string, number>): Array<[string, number]> {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
