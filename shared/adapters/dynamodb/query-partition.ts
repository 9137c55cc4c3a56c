/** Every item of one partition, strongly consistent, all pages read. */
import type { Item } from "./items.ts";
import { type DocumentSender, queryAllItems } from "./paginate.ts";

export function queryPartition(client: DocumentSender, table: string, pk: string): Promise<Item[]> {
  return queryAllItems(client, {
    TableName: table,
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": pk },
    ConsistentRead: true,
  });
}
