/**
 * Upgrades a deployed slices table to the current item layout (docs/aws.md, "Upgrading the slices
 * table"): items written before the kind index was sharded lack `kindShard`, so the kind
 * index does not hold them and cluster-wide lists miss them until ingest rewrites them; items
 * written before compression carry their object as JSON text. Each such item is put again in the
 * current layout (shared/adapters/dynamodb/slices-layout-upgrade.ts), on condition that its
 * resourceVersion is still the one read, so a concurrent ingest write wins and is left alone.
 * Credentials, region and endpoint come from the usual AWS SDK environment (AWS_PROFILE,
 * AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB).
 *
 *   npm run migrate-slices-layout -- --table <SlicesTable name> [--dry-run]
 *
 * Safe to run again, and while the pipeline runs: the rewrite is a stream MODIFY of the same
 * object at the same resourceVersion, which the fan-out passes on and agents drop as already held.
 */
import { parseArgs } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { upgradeSlicesLayout } from "#shared/adapters/dynamodb/slices-layout-upgrade.ts";

const { values } = parseArgs({
  options: {
    table: { type: "string" },
    "dry-run": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help || values.table === undefined) {
  console.log("npm run migrate-slices-layout -- --table <SlicesTable name> [--dry-run]");
  process.exit(values.help ? 0 : 2);
}

const dryRun = values["dry-run"];
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 8 }));
const result = await upgradeSlicesLayout(documents, values.table, { dryRun });
console.log(
  `${values.table}: ${result.scanned} items, ${result.upgraded} ${dryRun ? "to upgrade" : "upgraded"}, ${result.changedMeanwhile} changed meanwhile (left as written)`,
);
