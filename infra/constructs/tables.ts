/**
 * The DynamoDB tables, built from TABLE_SCHEMAS (shared/config/table-schemas.ts) and nothing else:
 * keys, indexes, TTL and stream come from the schema, so the adapter, the local runner and AWS
 * cannot disagree. On-demand capacity. Sandbox by default (tables go with the stack); the
 * production flag keeps them (RETAIN), turns on point-in-time recovery and deletion protection.
 */
import { RemovalPolicy, Validations } from "aws-cdk-lib";
import {
  AttributeType,
  BillingMode,
  type CfnTable,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";
import { LOGICAL_IDS } from "#shared/config/resources.ts";
import {
  type IndexSchema,
  LEGACY_SLICES_KIND_INDEX,
  TABLE_SCHEMAS,
  type TableSchema,
} from "#shared/config/table-schemas.ts";

export interface SlicelineTablesProps {
  readonly production: boolean;
  /** Keep the slices table's former kind index next to the current one (an upgrade's first deploy). */
  readonly legacyKindIndex?: boolean;
}

/** A table together with the schema it was built from (its env var name, its indexes). */
export interface SlicelineTable {
  readonly schema: TableSchema;
  readonly table: Table;
}

function buildTable(
  scope: Construct,
  schema: TableSchema,
  production: boolean,
  extraIndexes: readonly IndexSchema[] = [],
): Table {
  const table = new Table(scope, schema.logicalId, {
    partitionKey: { name: schema.partitionKey, type: AttributeType.STRING },
    sortKey: { name: schema.sortKey, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    encryption: TableEncryption.AWS_MANAGED,
    ...(schema.timeToLiveAttribute === undefined ? {} : { timeToLiveAttribute: schema.timeToLiveAttribute }),
    ...(schema.stream === undefined ? {} : { stream: StreamViewType[schema.stream] }),
    removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    deletionProtection: production,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: production },
  });
  for (const index of [...schema.globalIndexes, ...extraIndexes]) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
      ...(index.sortKey === undefined
        ? {}
        : {
            sortKey: {
              name: index.sortKey,
              type: index.sortKeyType === "N" ? AttributeType.NUMBER : AttributeType.STRING,
            },
          }),
      projectionType: ProjectionType[index.projection],
    });
  }
  (table.node.defaultChild as CfnTable).overrideLogicalId(schema.logicalId);
  if (!production) {
    Validations.of(table).acknowledge({
      id: "AwsSolutions-DDB3",
      reason:
        "Sandbox deployment (production=false): a throwaway stack whose tables cdk destroy deletes " +
        "(DeletionPolicy Delete), so there is nothing to recover them into and point-in-time recovery " +
        "would only add cost; -c production=true enables it and retains the tables.",
    });
  }
  return table;
}

export class SlicelineTables extends Construct {
  readonly state: SlicelineTable;
  readonly slices: SlicelineTable;
  readonly identities: SlicelineTable;
  readonly watchers: SlicelineTable;
  readonly all: readonly SlicelineTable[];

  constructor(scope: Construct, id: string, props: SlicelineTablesProps) {
    super(scope, id);
    const byLogicalId = new Map<string, SlicelineTable>();
    for (const schema of TABLE_SCHEMAS) {
      const extra =
        props.legacyKindIndex === true && schema.logicalId === LOGICAL_IDS.slicesTable
          ? [LEGACY_SLICES_KIND_INDEX]
          : [];
      byLogicalId.set(schema.logicalId, {
        schema,
        table: buildTable(this, schema, props.production, extra),
      });
    }
    const pick = (logicalId: string): SlicelineTable => {
      const found = byLogicalId.get(logicalId);
      if (found === undefined) throw new Error(`TABLE_SCHEMAS has no table with logical id ${logicalId}`);
      return found;
    };
    this.state = pick(LOGICAL_IDS.stateTable);
    this.slices = pick(LOGICAL_IDS.slicesTable);
    this.identities = pick(LOGICAL_IDS.identitiesTable);
    this.watchers = pick(LOGICAL_IDS.watchersTable);
    this.all = [...byLogicalId.values()];
  }
}
