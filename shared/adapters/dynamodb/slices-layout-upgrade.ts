/**
 * Puts every slices item written by an earlier layout again in the current one (items.ts
 * upgradedSliceItem): items without `kindShard` are not in the kind index, so cluster-wide
 * lists miss them until rewritten; items with their object as JSON text are read as they are, but
 * cost more to store. Each put is conditional on the resourceVersion read, so an ingest write
 * that lands meanwhile (already in the current layout) wins. Run by scripts/migrate-slices-layout.ts.
 */
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { upgradedSliceItem } from "./items.ts";
import { type DocumentSender, scanPages } from "./paginate.ts";
import { isConditionFailure } from "./transact.ts";

export interface SlicesLayoutUpgrade {
  readonly scanned: number;
  readonly upgraded: number;
  /** Rewritten or deleted between the scan and the put: left as the writer left it. */
  readonly changedMeanwhile: number;
}

export async function upgradeSlicesLayout(
  documents: DocumentSender,
  table: string,
  options: { readonly dryRun?: boolean } = {},
): Promise<SlicesLayoutUpgrade> {
  let scanned = 0;
  let upgraded = 0;
  let changedMeanwhile = 0;
  for await (const page of scanPages(documents, { TableName: table })) {
    for (const item of page.Items ?? []) {
      scanned++;
      const next = upgradedSliceItem(item);
      if (next === undefined) continue;
      if (options.dryRun === true) {
        upgraded++;
        continue;
      }
      try {
        await documents.send(
          new PutCommand({
            TableName: table,
            Item: next,
            ConditionExpression: "#rv = :rv",
            ExpressionAttributeNames: { "#rv": "resourceVersion" },
            ExpressionAttributeValues: { ":rv": item.resourceVersion },
          }),
        );
        upgraded++;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        changedMeanwhile++;
      }
    }
  }
  return { scanned, upgraded, changedMeanwhile };
}
