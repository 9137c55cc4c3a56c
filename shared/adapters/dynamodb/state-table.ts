/**
 * What the state table's small adapters (change log, pipeline counts) are given to reach it:
 * each has a file of its own so a handler's bundle holds only the commands it is granted, and
 * they all take the table the same way.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

/** The document client and the state table's name (items documented in shared/config/table-schemas.ts). */
export interface StateTableAccess {
  readonly documents: DynamoDBDocumentClient;
  readonly stateTable: string;
}
