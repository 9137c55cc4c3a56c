/**
 * DynamoDB Local never expires items by TTL. The sweeper does what DynamoDB's TTL does, every
 * minute: it deletes items whose TTL attribute (epoch seconds) has passed, in the tables whose
 * template enables TimeToLiveSpecification. Deletes are conditional on the item still being
 * expired, so an item rewritten in between stays. Correctness never depends on it (AWS deletes
 * expired items within days, not on time): it only keeps long local runs from growing.
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";

export interface SweptTable {
  readonly name: string;
  readonly timeToLiveAttribute: string;
  readonly keyAttributes: readonly string[];
}

export class TtlSweeper {
  readonly #client: DynamoDBClient;
  readonly #tables: readonly SweptTable[];
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  #deleted = 0;

  constructor(client: DynamoDBClient, tables: readonly SweptTable[]) {
    this.#client = client;
    this.#tables = tables;
  }

  get deleted(): number {
    return this.#deleted;
  }

  start(intervalMs = 60_000): void {
    this.#timer = setInterval(() => {
      this.#sweeping ??= this.sweep()
        .catch(() => 0)
        .finally(() => {
          this.#sweeping = undefined;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  /** One pass over every table; returns how many items it deleted. */
  async sweep(nowSeconds = Math.floor(Date.now() / 1000)): Promise<number> {
    let deleted = 0;
    for (const table of this.#tables) {
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await this.#client.send(
          new ScanCommand({
            TableName: table.name,
            FilterExpression: "#ttl < :now",
            ProjectionExpression: table.keyAttributes.map((_, i) => `#k${i}`).join(", "),
            ExpressionAttributeNames: {
              "#ttl": table.timeToLiveAttribute,
              ...Object.fromEntries(table.keyAttributes.map((name, i) => [`#k${i}`, name])),
            },
            ExpressionAttributeValues: { ":now": { N: String(nowSeconds) } },
            ExclusiveStartKey: start,
          }),
        );
        for (const key of page.Items ?? []) {
          try {
            await this.#client.send(
              new DeleteItemCommand({
                TableName: table.name,
                Key: key,
                ConditionExpression: "#ttl < :now",
                ExpressionAttributeNames: { "#ttl": table.timeToLiveAttribute },
                ExpressionAttributeValues: { ":now": { N: String(nowSeconds) } },
              }),
            );
            deleted++;
          } catch (error) {
            if ((error as Error).name !== "ConditionalCheckFailedException") throw error;
          }
        }
        start = page.LastEvaluatedKey;
      } while (start !== undefined);
    }
    this.#deleted += deleted;
    return deleted;
  }
}
