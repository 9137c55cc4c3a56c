/**
 * Building the DynamoDB store in a handler: the SDK client is created once at module scope by the
 * handler (endpoint from AWS_ENDPOINT_URL[_DYNAMODB], retries from its config); this wraps it in a
 * document client and resolves table names from the environment variables the CDK app sets.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { SlicingSettings } from "#shared/core/settings.ts";
import { DynamoClusterStore, type DynamoClusterStoreOptions } from "./cluster-store.ts";
import type { DynamoTables } from "./items.ts";

/** A document client with the marshalling the adapter expects (undefined fields dropped). */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

export interface TableEnvironment {
  readonly stateTable: string;
  readonly slicesTable: string;
  readonly identitiesTable: string;
}

export function tablesOf(environment: TableEnvironment): DynamoTables {
  return {
    state: environment.stateTable,
    slices: environment.slicesTable,
    identities: environment.identitiesTable,
  };
}

export function createDynamoClusterStore(
  client: DynamoDBClient,
  environment: TableEnvironment,
  settings: SlicingSettings,
  options: DynamoClusterStoreOptions = {},
): DynamoClusterStore {
  return new DynamoClusterStore(documentClient(client), tablesOf(environment), settings, options);
}
