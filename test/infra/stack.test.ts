/**
 * The synthesized template, checked where a regression would hurt: event source settings, DLQs
 * and redrive, tables built from TABLE_SCHEMAS, API routes and their authorization, the runtime of
 * every function, environment variables that name what is granted, and least privilege.
 * One synth per configuration (sandbox defaults, and production with custom settings).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Match, Template } from "aws-cdk-lib/assertions";
import { WATCH_HANDLER_EXPORT } from "#infra/constructs/watch-url.ts";
import { WATCHER_SWEEPER_FUNCTION_ID } from "#infra/constructs/watcher-sweeper.ts";
import { readSettings, SettingsError } from "#infra/settings.ts";
import { API_ROUTE_KEYS } from "#shared/api/routes.ts";
import { METRIC, METRICS_NAMESPACE } from "#shared/config/metric-names.ts";
import { ENV, LOGICAL_IDS } from "#shared/config/resources.ts";
import { TABLE_SCHEMAS } from "#shared/config/table-schemas.ts";
import { synthApp } from "#test/infra/synth.ts";
import {
  environmentOf,
  identityStatements,
  ofType,
  render,
  resourcesOf,
  statementsOfFunction,
} from "#test/infra/template.ts";

const sandbox = synthApp();
const template = Template.fromStack(sandbox.stack);
const resources = resourcesOf(template);

const production = synthApp({
  context: {
    production: "true",
    zones: "eu-west-1a,eu-west-1b",
    ingestBatchSize: "1000",
    ingestBatchWindowSeconds: "5",
    ingestMaxConcurrency: "50",
    fanoutBatchSize: "250",
    fanoutRetryAttempts: "3",
    fanoutMaxRecordAgeSeconds: "600",
    ingestMemoryMb: "2048",
    maxReceiveCount: "3",
    watcherQueuePrefix: "prod-w-",
    writeBudget: "400",
    slicing: '{"maxEndpointsPerSlice":50}',
    fanoutFormat: "objects",
    watcherNodePrincipals: "arn:aws:sts::*:assumed-role/eks-node/{node},arn:aws:iam::*:user/n/{node}",
    watcherAdminPrincipals: "arn:aws:iam::123456789012:role/ops",
    watcherCapPerCaller: "3",
    watcherTtlSeconds: "900",
    watcherSweepMinutes: "2",
    watchTimeoutSeconds: "300",
    watchReservedConcurrency: "20",
    legacyKindIndex: "true",
  },
});
const productionTemplate = Template.fromStack(production.stack);
const productionResources = resourcesOf(productionTemplate);

const FUNCTIONS = [
  LOGICAL_IDS.ingestFunction,
  LOGICAL_IDS.fanoutFunction,
  LOGICAL_IDS.apiFunction,
  LOGICAL_IDS.apiWatchFunction,
];

function eventSourceMapping(from: Resources, sourceLogicalId: string) {
  const found = ofType(from, "AWS::Lambda::EventSourceMapping").filter(([, mapping]) =>
    render(mapping.Properties?.EventSourceArn).startsWith(`\${${sourceLogicalId}.`),
  );
  assert.equal(found.length, 1, `one event source mapping on ${sourceLogicalId}`);
  return (found[0] as [string, { Properties: Record<string, unknown> }])[1].Properties;
}
type Resources = ReturnType<typeof resourcesOf>;

describe("logical ids the local runner relies on", () => {
  it("names every main resource exactly as LOGICAL_IDS says", () => {
    const expectedTypes: Record<string, string> = {
      ingestQueue: "AWS::SQS::Queue",
      priorityIngestQueue: "AWS::SQS::Queue",
      deadLetterQueue: "AWS::SQS::Queue",
      fanoutFailureQueue: "AWS::SQS::Queue",
      stateTable: "AWS::DynamoDB::Table",
      slicesTable: "AWS::DynamoDB::Table",
      identitiesTable: "AWS::DynamoDB::Table",
      watchersTable: "AWS::DynamoDB::Table",
      ingestFunction: "AWS::Lambda::Function",
      fanoutFunction: "AWS::Lambda::Function",
      apiFunction: "AWS::Lambda::Function",
      apiWatchFunction: "AWS::Lambda::Function",
      watchFunctionUrl: "AWS::Lambda::Url",
      httpApi: "AWS::ApiGatewayV2::Api",
      watcherSweepSchedule: "AWS::Events::Rule",
    };
    assert.deepEqual(Object.keys(expectedTypes).sort(), Object.keys(LOGICAL_IDS).sort());
    for (const [key, logicalId] of Object.entries(LOGICAL_IDS)) {
      assert.equal(resources[logicalId]?.Type, expectedTypes[key], `${logicalId}`);
      assert.equal(productionResources[logicalId]?.Type, expectedTypes[key], `${logicalId} (production)`);
    }
  });
});

describe("ingest queues", () => {
  it("redrive the ingest and priority queues to the dead-letter queue", () => {
    for (const id of [LOGICAL_IDS.ingestQueue, LOGICAL_IDS.priorityIngestQueue]) {
      assert.deepEqual(resources[id]?.Properties?.RedrivePolicy, {
        deadLetterTargetArn: { "Fn::GetAtt": [LOGICAL_IDS.deadLetterQueue, "Arn"] },
        maxReceiveCount: 5,
      });
      assert.deepEqual(productionResources[id]?.Properties?.RedrivePolicy, {
        deadLetterTargetArn: { "Fn::GetAtt": [LOGICAL_IDS.deadLetterQueue, "Arn"] },
        maxReceiveCount: 3,
      });
    }
  });

  it("encrypts every queue with SQS-managed keys and denies non-TLS access", () => {
    const queues = ofType(resources, "AWS::SQS::Queue");
    assert.equal(queues.length, 4);
    for (const [id, queue] of queues) {
      assert.equal(queue.Properties?.SqsManagedSseEnabled, true, id);
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: "Deny",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ]),
        },
      });
    }
  });

  it("keeps messages invisible for six times the ingest timeout", () => {
    const timeout = resources[LOGICAL_IDS.ingestFunction]?.Properties?.Timeout as number;
    assert.equal(resources[LOGICAL_IDS.ingestQueue]?.Properties?.VisibilityTimeout, timeout * 6);
  });
});

describe("ingest event sources", () => {
  it("batches the ingest queue with a window, partial failures and a maximum concurrency", () => {
    assert.deepEqual(
      {
        ...eventSourceMapping(resources, LOGICAL_IDS.ingestQueue),
        EventSourceArn: undefined,
        FunctionName: undefined,
      },
      {
        BatchSize: 500,
        MaximumBatchingWindowInSeconds: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: 2 },
        EventSourceArn: undefined,
        FunctionName: undefined,
      },
    );
    assert.deepEqual(eventSourceMapping(resources, LOGICAL_IDS.ingestQueue).FunctionName, {
      Ref: LOGICAL_IDS.ingestFunction,
    });
  });

  it("reads the priority queue with no batching window", () => {
    const priority = eventSourceMapping(resources, LOGICAL_IDS.priorityIngestQueue);
    assert.equal(priority.MaximumBatchingWindowInSeconds, 0);
    assert.equal(priority.BatchSize, 10);
    assert.deepEqual(priority.FunctionResponseTypes, ["ReportBatchItemFailures"]);
    assert.deepEqual(priority.ScalingConfig, { MaximumConcurrency: 5 });
    assert.deepEqual(priority.FunctionName, { Ref: LOGICAL_IDS.ingestFunction });
  });

  it("takes batch size, window and concurrency from context", () => {
    const ingest = eventSourceMapping(productionResources, LOGICAL_IDS.ingestQueue);
    assert.equal(ingest.BatchSize, 1000);
    assert.equal(ingest.MaximumBatchingWindowInSeconds, 5);
    assert.deepEqual(ingest.ScalingConfig, { MaximumConcurrency: 50 });
    assert.equal(
      eventSourceMapping(productionResources, LOGICAL_IDS.priorityIngestQueue).MaximumBatchingWindowInSeconds,
      0,
    );
  });
});

describe("fan-out stream event source", () => {
  it("bisects, retries a bounded number of times, ages out and sends failures to the failure queue", () => {
    const stream = eventSourceMapping(resources, LOGICAL_IDS.slicesTable);
    assert.equal(render(stream.EventSourceArn), `\${${LOGICAL_IDS.slicesTable}.StreamArn}`);
    assert.deepEqual(stream.FunctionName, { Ref: LOGICAL_IDS.fanoutFunction });
    assert.equal(stream.StartingPosition, "TRIM_HORIZON");
    assert.equal(stream.BatchSize, 100);
    assert.equal(stream.BisectBatchOnFunctionError, true);
    assert.equal(stream.MaximumRetryAttempts, 10);
    assert.equal(stream.MaximumRecordAgeInSeconds, 3600);
    assert.deepEqual(stream.FunctionResponseTypes, ["ReportBatchItemFailures"]);
    assert.deepEqual(stream.DestinationConfig, {
      OnFailure: { Destination: { "Fn::GetAtt": [LOGICAL_IDS.fanoutFailureQueue, "Arn"] } },
    });
  });

  it("takes its limits from context, never unbounded", () => {
    const stream = eventSourceMapping(productionResources, LOGICAL_IDS.slicesTable);
    assert.equal(stream.BatchSize, 250);
    assert.equal(stream.MaximumRetryAttempts, 3);
    assert.equal(stream.MaximumRecordAgeInSeconds, 600);
    assert.throws(
      () => readSettings((key) => (key === "fanoutRetryAttempts" ? "-1" : undefined)),
      SettingsError,
    );
  });
});

describe("tables", () => {
  it("are built from TABLE_SCHEMAS: keys, on-demand, TTL, stream, indexes", () => {
    assert.equal(ofType(resources, "AWS::DynamoDB::Table").length, TABLE_SCHEMAS.length);
    for (const schema of TABLE_SCHEMAS) {
      const props = resources[schema.logicalId]?.Properties ?? {};
      assert.equal(props.BillingMode, "PAY_PER_REQUEST", schema.logicalId);
      assert.deepEqual(props.KeySchema, [
        { AttributeName: schema.partitionKey, KeyType: "HASH" },
        { AttributeName: schema.sortKey, KeyType: "RANGE" },
      ]);
      assert.deepEqual(
        props.TimeToLiveSpecification,
        schema.timeToLiveAttribute === undefined
          ? undefined
          : { AttributeName: schema.timeToLiveAttribute, Enabled: true },
        `${schema.logicalId} TTL`,
      );
      assert.deepEqual(
        props.StreamSpecification,
        schema.stream === undefined ? undefined : { StreamViewType: schema.stream },
        `${schema.logicalId} stream`,
      );
      const indexes = (props.GlobalSecondaryIndexes ?? []) as {
        IndexName: string;
        KeySchema: unknown;
        Projection: unknown;
      }[];
      const definitions = new Map(
        (props.AttributeDefinitions as { AttributeName: string; AttributeType: string }[]).map((d) => [
          d.AttributeName,
          d.AttributeType,
        ]),
      );
      assert.deepEqual(
        indexes.map((index) => index.IndexName).sort(),
        schema.globalIndexes.map((index) => index.name).sort(),
      );
      for (const index of schema.globalIndexes) {
        const built = indexes.find((candidate) => candidate.IndexName === index.name);
        assert.deepEqual(built?.KeySchema, [
          { AttributeName: index.partitionKey, KeyType: "HASH" },
          ...(index.sortKey === undefined ? [] : [{ AttributeName: index.sortKey, KeyType: "RANGE" }]),
        ]);
        assert.deepEqual(built?.Projection, { ProjectionType: index.projection });
        assert.equal(definitions.get(index.partitionKey), "S");
        if (index.sortKey !== undefined)
          assert.equal(definitions.get(index.sortKey), index.sortKeyType ?? "S");
      }
    }
  });

  it("keep the slices table's former kind index only when asked (an upgrade's first deploy)", () => {
    const indexesOf = (built: typeof resources) =>
      (
        (built[LOGICAL_IDS.slicesTable]?.Properties?.GlobalSecondaryIndexes ?? []) as {
          IndexName: string;
          Projection: unknown;
        }[]
      )
        .map((index) => [index.IndexName, index.Projection])
        .sort();
    assert.deepEqual(indexesOf(resources), [["byKindShardKeys", { ProjectionType: "KEYS_ONLY" }]]);
    assert.deepEqual(indexesOf(productionResources), [
      ["byKindShard", { ProjectionType: "ALL" }],
      ["byKindShardKeys", { ProjectionType: "KEYS_ONLY" }],
    ]);
  });

  it("streams new and old images of the slices table only", () => {
    const streamed = ofType(resources, "AWS::DynamoDB::Table").filter(
      ([, t]) => t.Properties?.StreamSpecification,
    );
    assert.deepEqual(
      streamed.map(([id, t]) => [id, t.Properties?.StreamSpecification]),
      [[LOGICAL_IDS.slicesTable, { StreamViewType: "NEW_AND_OLD_IMAGES" }]],
    );
  });

  it("go with a sandbox stack, and are kept and recoverable in production", () => {
    for (const [id, table] of ofType(resources, "AWS::DynamoDB::Table")) {
      assert.equal(table.DeletionPolicy, "Delete", id);
      assert.equal(table.Properties?.DeletionProtectionEnabled, false, id);
    }
    for (const [id, table] of ofType(productionResources, "AWS::DynamoDB::Table")) {
      assert.equal(table.DeletionPolicy, "Retain", id);
      assert.equal(table.Properties?.DeletionProtectionEnabled, true, id);
      assert.deepEqual(
        table.Properties?.PointInTimeRecoverySpecification,
        { PointInTimeRecoveryEnabled: true },
        id,
      );
    }
  });
});

describe("functions", () => {
  const functions = ofType(resources, "AWS::Lambda::Function");

  it("are exactly the pipeline functions, the watch function and the watcher sweeper (no helper functions sneaked in)", () => {
    assert.deepEqual(functions.map(([id]) => id).sort(), [...FUNCTIONS, WATCHER_SWEEPER_FUNCTION_ID].sort());
  });

  it("run nodejs24.x on arm64 with active tracing, JSON logs in their own log group, Powertools env", () => {
    for (const [id, fn] of [...functions, ...ofType(productionResources, "AWS::Lambda::Function")]) {
      const props = fn.Properties ?? {};
      assert.equal(props.Runtime, "nodejs24.x", id);
      assert.deepEqual(props.Architectures, ["arm64"], id);
      assert.deepEqual(props.TracingConfig, { Mode: "Active" }, id);
      assert.equal(
        props.Handler,
        id === LOGICAL_IDS.apiWatchFunction ? `index.${WATCH_HANDLER_EXPORT}` : "index.handler",
        id,
      );
      const logging = props.LoggingConfig as { LogGroup: unknown; LogFormat: string };
      assert.equal(logging.LogFormat, "JSON", id);
      const logGroupId = render(logging.LogGroup).slice(2, -1);
      const retention = (resources[logGroupId] ?? productionResources[logGroupId])?.Properties
        ?.RetentionInDays;
      assert.ok(typeof retention === "number" && retention > 0, `${id} log retention`);
      const env = (props.Environment as { Variables: Record<string, unknown> }).Variables;
      assert.match(String(env.POWERTOOLS_SERVICE_NAME), /^sliceline-/);
      assert.equal(env.POWERTOOLS_METRICS_NAMESPACE, "Sliceline");
      assert.equal(env.NODE_OPTIONS, "--enable-source-maps");
    }
  });

  it("take memory sizes from context", () => {
    assert.equal(resources[LOGICAL_IDS.ingestFunction]?.Properties?.MemorySize, 1024);
    assert.equal(productionResources[LOGICAL_IDS.ingestFunction]?.Properties?.MemorySize, 2048);
  });

  it("have roles without managed policies (no AWSLambdaBasicExecutionRole)", () => {
    for (const [id, role] of ofType(resources, "AWS::IAM::Role")) {
      assert.equal(role.Properties?.ManagedPolicyArns, undefined, id);
    }
  });
});

describe("environment variables name what is granted", () => {
  it("sets the variables each handler reads", () => {
    const ref = (id: string) => ({ Ref: id });
    const ingest = environmentOf(resources, LOGICAL_IDS.ingestFunction);
    assert.deepEqual(ingest[ENV.stateTable], ref(LOGICAL_IDS.stateTable));
    assert.deepEqual(ingest[ENV.slicesTable], ref(LOGICAL_IDS.slicesTable));
    assert.deepEqual(ingest[ENV.identitiesTable], ref(LOGICAL_IDS.identitiesTable));
    assert.equal(ingest[ENV.watchersTable], undefined, "no write budget: the watcher count is not read");
    assert.deepEqual(ingest[ENV.deadLetterQueueUrl], ref(LOGICAL_IDS.deadLetterQueue));
    assert.equal(ingest[ENV.slicingSettings], "{}");
    assert.equal(ingest[ENV.writeBudget], undefined);

    const productionIngest = environmentOf(productionResources, LOGICAL_IDS.ingestFunction);
    assert.deepEqual(JSON.parse(String(productionIngest[ENV.slicingSettings])), { maxEndpointsPerSlice: 50 });
    assert.equal(productionIngest[ENV.writeBudget], "400");
    assert.deepEqual(productionIngest[ENV.watchersTable], ref(LOGICAL_IDS.watchersTable));
    assert.deepEqual(
      statementsOfFunction(productionResources, LOGICAL_IDS.ingestFunction)
        .filter((s) => s.resources.includes(`\${${LOGICAL_IDS.watchersTable}.Arn}`))
        .map((s) => s.actions),
      [["dynamodb:Scan"]],
      "the write budget counts watchers with a COUNT scan, and nothing else",
    );

    const fanout = environmentOf(resources, LOGICAL_IDS.fanoutFunction);
    assert.ok(render(fanout[ENV.changeTopicArns]).startsWith("{"));
    assert.equal(fanout[ENV.fanoutFormat], "bundles");
    assert.equal(environmentOf(productionResources, LOGICAL_IDS.fanoutFunction)[ENV.fanoutFormat], "objects");
    for (const id of [LOGICAL_IDS.ingestFunction, LOGICAL_IDS.apiFunction])
      assert.equal(environmentOf(resources, id)[ENV.fanoutFormat], undefined, id);
    for (const table of TABLE_SCHEMAS.filter((schema) => schema.envName !== ENV.stateTable))
      assert.equal(fanout[table.envName], undefined, "fan-out reads only its stream");
    assert.deepEqual(
      statementsOfFunction(resources, LOGICAL_IDS.fanoutFunction)
        .filter((s) => s.resources.includes(`\${${LOGICAL_IDS.stateTable}.Arn}`))
        .map((s) => s.actions),
      [["dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]],
      "fan-out adds to its per-minute counters and appends to the watch's change log in the state table, and does nothing else there",
    );
    const api = environmentOf(resources, LOGICAL_IDS.apiFunction);
    for (const name of [ENV.slicesTable, ENV.identitiesTable, ENV.stateTable, ENV.watchersTable]) {
      assert.ok(api[name] !== undefined, `api ${name}`);
    }
    assert.equal(api.SLICELINE_WATCHER_QUEUE_PREFIX, "sliceline-watcher-");
    assert.equal(
      environmentOf(productionResources, LOGICAL_IDS.apiFunction).SLICELINE_WATCHER_QUEUE_PREFIX,
      "prod-w-",
    );
  });

  it("hands the watcher policy and TTL to the API function, and schedules its sweep of expired watchers", () => {
    const api = environmentOf(resources, LOGICAL_IDS.apiFunction);
    assert.deepEqual(JSON.parse(render(api[ENV.watcherAuthorization])), {
      mode: "principal",
      nodePrincipals: ["arn:aws:sts::*:assumed-role/sliceline-node/{node}"],
      adminPrincipals: [],
      capPerCaller: 10,
    });
    assert.equal(api[ENV.watcherTtlSeconds], "3600");
    const production = environmentOf(productionResources, LOGICAL_IDS.apiFunction);
    assert.deepEqual(JSON.parse(render(production[ENV.watcherAuthorization])), {
      mode: "principal",
      nodePrincipals: ["arn:aws:sts::*:assumed-role/eks-node/{node}", "arn:aws:iam::*:user/n/{node}"],
      adminPrincipals: ["arn:aws:iam::123456789012:role/ops"],
      capPerCaller: 3,
    });
    assert.equal(production[ENV.watcherTtlSeconds], "900");
    for (const [from, rate] of [
      [resources, "rate(5 minutes)"],
      [productionResources, "rate(2 minutes)"],
    ] as const) {
      const rule = from[LOGICAL_IDS.watcherSweepSchedule]?.Properties ?? {};
      assert.equal(rule.ScheduleExpression, rate);
      const [target] = rule.Targets as Array<{ Arn: unknown; Input: string }>;
      assert.deepEqual(target?.Arn, { "Fn::GetAtt": [LOGICAL_IDS.apiFunction, "Arn"] });
      assert.deepEqual(JSON.parse(target?.Input ?? ""), { sliceline: "sweep-watchers" });
    }
    const invokers = ofType(resources, "AWS::Lambda::Permission").filter(
      ([, permission]) => permission.Properties?.Principal === "events.amazonaws.com",
    );
    assert.equal(invokers.length, 1);
  });

  it("maps each change scope to its topic, for the publisher and the subscriber alike", () => {
    const topics = ofType(resources, "AWS::SNS::Topic").map(([id]) => id);
    for (const [from, zones] of [
      [resources, ["zone-a", "zone-b", "zone-c"]],
      [productionResources, ["eu-west-1a", "eu-west-1b"]],
    ] as const) {
      const fanoutJson = render(environmentOf(from, LOGICAL_IDS.fanoutFunction)[ENV.changeTopicArns]);
      const apiJson = render(environmentOf(from, LOGICAL_IDS.apiFunction)[ENV.changeTopicArns]);
      assert.equal(fanoutJson, apiJson);
      const arns = JSON.parse(fanoutJson) as Record<string, string>;
      assert.deepEqual(
        Object.keys(arns).sort(),
        [
          "Cilium",
          "EndpointSlice",
          ...zones.flatMap((zone) => [`EndpointSlice@${zone}`, `Agent@${zone}`]),
        ].sort(),
      );
      assert.equal(new Set(Object.values(arns)).size, Object.keys(arns).length, "one topic per scope");
      const changeTopics = ofType(from, "AWS::SNS::Topic").filter(([, topic]) =>
        String(topic.Properties?.DisplayName).startsWith("sliceline changes: "),
      );
      assert.equal(changeTopics.length, 2 + 2 * zones.length, "no change topic without a scope");
      for (const zone of zones) {
        assert.ok(
          arns[`Agent@${zone}`]?.includes(`Agent${zone.replaceAll("-", "")}`),
          `Agent@${zone} topic id`,
        );
        assert.ok(
          arns[`EndpointSlice@${zone}`]?.includes(`Zone${zone.replaceAll("-", "")}`),
          `zone topic id`,
        );
      }
      const displayNames = changeTopics.map(([, topic]) => topic.Properties?.DisplayName);
      assert.deepEqual(
        displayNames.sort(),
        Object.keys(arns)
          .map((scope) => `sliceline changes: ${scope}`)
          .sort(),
      );
      for (const [id, action] of [
        [LOGICAL_IDS.fanoutFunction, "sns:Publish"],
        [LOGICAL_IDS.apiFunction, "sns:Subscribe"],
      ] as const) {
        const granted = statementsOfFunction(from, id)
          .filter((statement) => statement.actions.includes(action))
          .flatMap((statement) => statement.resources);
        for (const [scope, arn] of Object.entries(arns))
          assert.ok(granted.includes(arn), `${id} may ${action} to ${scope}`);
      }
    }
    for (const arn of Object.values(
      JSON.parse(render(environmentOf(resources, LOGICAL_IDS.fanoutFunction)[ENV.changeTopicArns])) as Record<
        string,
        string
      >,
    )) {
      assert.ok(topics.includes(arn.slice(2, -1)), `${arn} is a change topic of the stack`);
    }
  });

  it("grants every function exactly the tables and queues its variables name", () => {
    const tableEnv = new Map(TABLE_SCHEMAS.map((schema) => [schema.logicalId, schema.envName]));
    for (const id of FUNCTIONS) {
      const env = environmentOf(resources, id);
      const statements = statementsOfFunction(resources, id);
      const grantedTables = new Set(
        statements
          // Any item or query action: the fan-out only adds to its counters (UpdateItem).
          .filter((s) => s.actions.some((action) => /^dynamodb:(\w+Item|Query|Scan)$/.test(action)))
          .flatMap((s) => s.resources)
          .map((arn) => /^\$\{(\w+)\.Arn\}/.exec(arn)?.[1])
          .filter((table) => table !== undefined),
      );
      const namedTables = new Set(
        [...tableEnv].filter(([, envName]) => env[envName] !== undefined).map(([logicalId]) => logicalId),
      );
      assert.deepEqual(
        [...grantedTables].sort(),
        [...namedTables].sort(),
        `${id}: tables granted = tables named`,
      );
    }
    const ingestStatements = statementsOfFunction(resources, LOGICAL_IDS.ingestFunction);
    assert.ok(
      ingestStatements.some(
        (s) =>
          s.actions.includes("sqs:SendMessage") &&
          s.resources.includes(`\${${LOGICAL_IDS.deadLetterQueue}.Arn}`),
      ),
      "ingest may send to the dead-letter queue it is told about",
    );
  });

  it("lets only the readers read and only the ingest write slices", () => {
    const writes = (id: string, table: string) =>
      statementsOfFunction(resources, id).some(
        (s) => s.actions.includes("dynamodb:PutItem") && s.resources.includes(`\${${table}.Arn}`),
      );
    assert.equal(writes(LOGICAL_IDS.ingestFunction, LOGICAL_IDS.slicesTable), true);
    assert.equal(writes(LOGICAL_IDS.fanoutFunction, LOGICAL_IDS.slicesTable), false);
    assert.equal(writes(LOGICAL_IDS.apiFunction, LOGICAL_IDS.slicesTable), false);
    assert.equal(writes(LOGICAL_IDS.apiFunction, LOGICAL_IDS.watchersTable), true);
  });
});

describe("HTTP API", () => {
  const routes = ofType(resources, "AWS::ApiGatewayV2::Route");

  it("has exactly the contract's routes", () => {
    const keys: string[] = routes.map(([, route]) => String(route.Properties?.RouteKey)).sort();
    assert.deepEqual(keys, [...API_ROUTE_KEYS, "$default"].sort() as string[]);
    for (const expected of [
      "GET /api",
      "GET /apis",
      "GET /apis/{group}/{version}",
      "GET /apis/{group}/{version}/namespaces/{namespace}/{resource}",
      "GET /apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}",
      "GET /apis/{group}/{version}/{resource}",
      "GET /apis/{group}/{version}/{resource}/{name}",
      "GET /v1/ipcache/{ip}",
      "GET /v1/stats",
      "GET /healthz",
      "POST /v1/watchers",
      "GET /v1/watchers/{node}",
      "DELETE /v1/watchers/{node}",
      "POST /v1/watchers/{node}/applied",
    ]) {
      assert.ok(keys.includes(expected), expected);
    }
  });

  it("requires IAM authorization on every route, each integrated with the API function", () => {
    assert.ok(routes.length > 0);
    for (const [id, route] of routes) {
      assert.equal(route.Properties?.AuthorizationType, "AWS_IAM", id);
      assert.deepEqual(route.Properties?.ApiId, { Ref: LOGICAL_IDS.httpApi }, id);
      const target = render(route.Properties?.Target);
      const integration = resources[target.replace(/^integrations\/\$\{(\w+)\}$/, "$1")];
      assert.equal(integration?.Type, "AWS::ApiGatewayV2::Integration", id);
      assert.equal(render(integration?.Properties?.IntegrationUri), `\${${LOGICAL_IDS.apiFunction}.Arn}`);
    }
  });

  it("logs every request of its $default stage and throttles it", () => {
    const stages = ofType(resources, "AWS::ApiGatewayV2::Stage");
    assert.equal(stages.length, 1);
    const stage = stages[0]?.[1].Properties ?? {};
    assert.equal(stage.StageName, "$default");
    assert.equal(stage.AutoDeploy, true);
    const access = stage.AccessLogSettings as { DestinationArn: unknown; Format: string };
    const logGroupId = render(access.DestinationArn).replace(/^\$\{(\w+)\.Arn\}$/, "$1");
    assert.equal(resources[logGroupId]?.Type, "AWS::Logs::LogGroup");
    const format = JSON.parse(access.Format) as Record<string, string>;
    assert.equal(format.requestId, "$context.requestId");
    assert.equal(format.userArn, "$context.identity.userArn");
    assert.deepEqual(stage.DefaultRouteSettings, { ThrottlingBurstLimit: 400, ThrottlingRateLimit: 200 });
  });
});

describe("watch function URL", () => {
  const url = (from: Resources) => from[LOGICAL_IDS.watchFunctionUrl]?.Properties ?? {};
  const watch = (from: Resources) => from[LOGICAL_IDS.apiWatchFunction]?.Properties ?? {};

  it("streams responses from the watch function, IAM auth only, open to no one by a resource policy", () => {
    assert.equal(ofType(resources, "AWS::Lambda::Url").length, 1);
    assert.deepEqual(url(resources), {
      AuthType: "AWS_IAM",
      InvokeMode: "RESPONSE_STREAM",
      TargetFunctionArn: { "Fn::GetAtt": [LOGICAL_IDS.apiWatchFunction, "Arn"] },
    });
    const urlPermissions = ofType(resources, "AWS::Lambda::Permission").filter(
      ([, permission]) =>
        render(permission.Properties?.FunctionName).includes(LOGICAL_IDS.apiWatchFunction) ||
        String(permission.Properties?.Action).includes("Url"),
    );
    assert.deepEqual(urlPermissions, [], "callers need an identity policy (the node agent policy)");
  });

  it("runs the API's code with a watch's timeout, the API's environment and exactly the API's grants", () => {
    assert.equal(watch(resources).Timeout, 900);
    assert.equal(watch(resources).ReservedConcurrentExecutions, undefined);
    assert.equal(watch(productionResources).Timeout, 300);
    assert.equal(watch(productionResources).ReservedConcurrentExecutions, 20);
    assert.equal(watch(resources).MemorySize, resources[LOGICAL_IDS.apiFunction]?.Properties?.MemorySize);
    for (const from of [resources, productionResources]) {
      const { POWERTOOLS_SERVICE_NAME: apiService, ...apiEnv } = environmentOf(from, LOGICAL_IDS.apiFunction);
      const { POWERTOOLS_SERVICE_NAME: watchService, ...watchEnv } = environmentOf(
        from,
        LOGICAL_IDS.apiWatchFunction,
      );
      assert.equal(apiService, "sliceline-api");
      assert.equal(watchService, "sliceline-api-watch");
      assert.deepEqual(watchEnv, apiEnv);
      const grants = (id: string) =>
        statementsOfFunction(from, id)
          .map((s) => JSON.stringify([[...s.actions].sort(), [...s.resources].sort()]))
          .filter((s) => !s.includes("logs:"))
          .sort();
      assert.deepEqual(grants(LOGICAL_IDS.apiWatchFunction), grants(LOGICAL_IDS.apiFunction));
    }
  });

  it("is not invoked by the watcher sweep schedule, and goes before the sweep on deletion", () => {
    const targets = ofType(resources, "AWS::Events::Rule").flatMap(([, rule]) =>
      ((rule.Properties?.Targets as Array<{ Arn: unknown }> | undefined) ?? []).map((t) => render(t.Arn)),
    );
    assert.ok(!targets.some((arn) => arn.includes(LOGICAL_IDS.apiWatchFunction)));
    const sweepId = ofType(resources, "Custom::WatcherChannelSweep")[0]?.[0] as string;
    const dependsOn = (resources[LOGICAL_IDS.apiWatchFunction] as { DependsOn?: string[] }).DependsOn ?? [];
    assert.ok(dependsOn.includes(sweepId), "watch function deleted before the sweep runs");
  });
});

describe("least privilege", () => {
  /** Actions AWS offers no resource-level permissions for, and which the stack needs. */
  const STAR_RESOURCE_ACTIONS = [
    "dynamodb:ListStreams",
    "sqs:ListQueues",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
  ];

  for (const [name, from] of [
    ["sandbox", resources],
    ["production", productionResources],
  ] as const) {
    it(`grants no wildcard action anywhere but the publisher's kms:GenerateDataKey* on the topic key (${name})`, () => {
      const statements = identityStatements(from).filter((s) => s.effect === "Allow");
      assert.ok(statements.length > 10);
      for (const statement of statements) {
        for (const action of statement.actions) {
          if (action === "kms:GenerateDataKey*") {
            // What AWS documents for publishers to an SSE topic; only on the change topics' key.
            assert.deepEqual(statement.resources, [`\${${changeTopicKeyId(from)}.Arn}`]);
            continue;
          }
          assert.ok(
            action !== "*" && !action.endsWith(":*") && !action.includes("*"),
            `${statement.owner}: ${action}`,
          );
        }
      }
    });

    it(`grants Resource "*" only for ${STAR_RESOURCE_ACTIONS.join(", ")} (${name})`, () => {
      const starActions = new Set(
        identityStatements(from)
          .filter((s) => s.effect === "Allow" && s.resources.includes("*"))
          .flatMap((s) => s.actions),
      );
      assert.deepEqual([...starActions].sort(), STAR_RESOURCE_ACTIONS);
    });

    it(`has no other wildcard in a resource than the watcher channel prefix (${name})`, () => {
      const prefix = name === "sandbox" ? "sliceline-watcher-" : "prod-w-";
      const channelPattern = `arn:\${AWS::Partition}:sqs:\${AWS::Region}:\${AWS::AccountId}:${prefix}*`;
      // The client policies are for roles outside the stack: checked in "client policies".
      const wildcards = identityStatements(from)
        .filter((s) => s.effect === "Allow" && !s.owner.startsWith("ClientPolicies"))
        .flatMap((s) =>
          s.resources.filter((r) => r !== "*" && r.includes("*")).map((r) => [s.actions, r] as const),
        );
      assert.ok(wildcards.length > 0);
      for (const [actions, resource] of wildcards) {
        assert.equal(resource, channelPattern);
        const allowed = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"];
        for (const action of actions)
          assert.ok(allowed.includes(action), `channel queues: lifecycle only, never ${action}`);
      }
    });
  }

  it("lets only the API subscribe to change topics, and only the fan-out publish", () => {
    const holders = (action: string) =>
      new Set(
        FUNCTIONS.filter((id) => statementsOfFunction(resources, id).some((s) => s.actions.includes(action))),
      );
    assert.deepEqual([...holders("sns:Publish")], [LOGICAL_IDS.fanoutFunction]);
    // The watch function runs the API's code (watcher registration too): the same grants.
    const api = [LOGICAL_IDS.apiFunction, LOGICAL_IDS.apiWatchFunction];
    assert.deepEqual([...holders("sns:Subscribe")], api);
    assert.deepEqual([...holders("sqs:CreateQueue")], api);
  });
});

/** The logical id of the KMS key that encrypts the change topics. */
function changeTopicKeyId(from: Resources): string {
  const keys = new Set(
    ofType(from, "AWS::SNS::Topic")
      .filter(([, topic]) => String(topic.Properties?.DisplayName).startsWith("sliceline changes: "))
      .map(([, topic]) => render(topic.Properties?.KmsMasterKeyId).replace(/^\$\{(\w+)\.Arn\}$/, "$1")),
  );
  assert.equal(keys.size, 1, "one key for every change topic");
  return [...keys][0] as string;
}

describe("encryption at rest of the topics", () => {
  type KeyStatement = { Principal?: { Service?: string; AWS?: unknown }; Action: string | string[] };
  const keyStatements = (keyId: string): KeyStatement[] =>
    (resources[keyId]?.Properties?.KeyPolicy as { Statement?: KeyStatement[] } | undefined)?.Statement ?? [];

  it("encrypts every topic with a customer-managed, rotated key of the stack, gone with the stack", () => {
    const topics = ofType(resources, "AWS::SNS::Topic");
    assert.ok(topics.length > 0);
    for (const [id, topic] of topics) {
      const keyId = render(topic.Properties?.KmsMasterKeyId).replace(/^\$\{(\w+)\.Arn\}$/, "$1");
      const key = resources[keyId];
      assert.equal(key?.Type, "AWS::KMS::Key", `${id} is encrypted with a key of the stack`);
      assert.equal(key?.Properties?.EnableKeyRotation, true, keyId);
      assert.equal(key?.DeletionPolicy, "Delete", keyId);
      assert.equal(key?.Properties?.PendingWindowInDays, 7, keyId);
    }
  });

  it("lets only the fan-out use the change topics' key, to publish", () => {
    const keyId = changeTopicKeyId(resources);
    assert.deepEqual(
      keyStatements(keyId).flatMap((statement) =>
        statement.Principal?.Service === undefined ? [] : [statement],
      ),
      [],
      "no service principal: SNS decrypts before delivering to the (SQS-managed) watcher queues",
    );
    const users = FUNCTIONS.filter((id) =>
      statementsOfFunction(resources, id).some((s) => s.resources.includes(`\${${keyId}.Arn}`)),
    );
    assert.deepEqual(users, [LOGICAL_IDS.fanoutFunction]);
    const granted = statementsOfFunction(resources, LOGICAL_IDS.fanoutFunction)
      .filter((s) => s.resources.includes(`\${${keyId}.Arn}`))
      .flatMap((s) => s.actions)
      .sort();
    assert.deepEqual(granted, ["kms:Decrypt", "kms:GenerateDataKey*"]);
  });

  it("lets CloudWatch alarms of this account, and nothing else, use the alarm topic's key", () => {
    const alarmTopic = ofType(resources, "AWS::SNS::Topic").find(
      ([, topic]) => topic.Properties?.DisplayName === "sliceline alarms",
    );
    const keyId = render(alarmTopic?.[1].Properties?.KmsMasterKeyId).replace(/^\$\{(\w+)\.Arn\}$/, "$1");
    assert.notEqual(keyId, changeTopicKeyId(resources), "its own key");
    const services = keyStatements(keyId).filter((statement) => statement.Principal?.Service !== undefined);
    assert.equal(services.length, 1);
    const statement = services[0] as unknown as {
      Principal: { Service: string };
      Action: string[];
      Condition: Record<string, Record<string, unknown>>;
    };
    assert.equal(statement.Principal.Service, "cloudwatch.amazonaws.com");
    assert.deepEqual([...statement.Action].sort(), ["kms:Decrypt", "kms:GenerateDataKey*"]);
    assert.ok(statement.Condition.StringEquals?.["aws:SourceAccount"] !== undefined);
    assert.match(render(statement.Condition.ArnLike?.["aws:SourceArn"]), /:cloudwatch:.*:alarm:\*$/);
  });
});

describe("watcher queues removed with the stack", () => {
  const sweeps = ofType(resources, "Custom::WatcherChannelSweep");

  it("has one sweep resource backed by the sweeper function, with the prefix and every change topic", () => {
    assert.equal(sweeps.length, 1);
    const [sweepId, sweep] = sweeps[0] as [string, (typeof sweeps)[number][1]];
    const props = sweep.Properties ?? {};
    assert.equal(render(props.ServiceToken), `\${${WATCHER_SWEEPER_FUNCTION_ID}.Arn}`);
    assert.equal(props.QueueNamePrefix, "sliceline-watcher-");
    const topics = ofType(resources, "AWS::SNS::Topic")
      .filter(([, topic]) => String(topic.Properties?.DisplayName).startsWith("sliceline changes: "))
      .map(([id]) => `\${${id}}`);
    assert.deepEqual((props.TopicArns as unknown[]).map(render).sort(), topics.sort());
    const productionSweep = ofType(productionResources, "Custom::WatcherChannelSweep")[0]?.[1];
    assert.equal(productionSweep?.Properties?.QueueNamePrefix, "prod-w-");
    // Deleted before the sweeper's function and role (it needs them to answer), after the API.
    const dependsOn = (id: string) =>
      (resources[id] as { DependsOn?: string[] } | undefined)?.DependsOn ?? [];
    assert.ok(dependsOn(sweepId).includes(WATCHER_SWEEPER_FUNCTION_ID));
    assert.ok(dependsOn(sweepId).some((id) => /^WatcherSweeperHandlerRoleDefaultPolicy/.test(id)));
    assert.ok(dependsOn(LOGICAL_IDS.apiFunction).includes(sweepId), "the API goes first");
  });

  it("lets the sweeper list queues, delete only channel queues, and unsubscribe them from the change topics", () => {
    const statements = statementsOfFunction(resources, WATCHER_SWEEPER_FUNCTION_ID);
    const byAction = (action: string) =>
      statements.filter((s) => s.actions.includes(action)).flatMap((s) => s.resources);
    assert.deepEqual(byAction("sqs:ListQueues"), ["*"]);
    // The pseudo parameters as render() writes them.
    const pseudo = (name: string) => `\${AWS::${name}}`;
    assert.deepEqual(byAction("sqs:DeleteQueue"), [
      `arn:${pseudo("Partition")}:sqs:${pseudo("Region")}:${pseudo("AccountId")}:sliceline-watcher-*`,
    ]);
    const topics = JSON.parse(
      render(environmentOf(resources, LOGICAL_IDS.fanoutFunction)[ENV.changeTopicArns]),
    );
    assert.deepEqual(byAction("sns:Unsubscribe").sort(), (Object.values(topics) as string[]).sort());
    assert.deepEqual(
      byAction("sns:ListSubscriptionsByTopic").sort(),
      (Object.values(topics) as string[]).sort(),
    );
  });
});

describe("monitoring", () => {
  it("alarms on dead letters, fan-out failures and lag, and function errors", () => {
    const alarms = ofType(resources, "AWS::CloudWatch::Alarm").map(([, alarm]) => alarm.Properties ?? {});
    const on = (metricName: string, dimensionRef: string) =>
      alarms.filter(
        (alarm) =>
          alarm.MetricName === metricName &&
          JSON.stringify(alarm.Dimensions).includes(`"Ref":"${dimensionRef}"`) === true,
      );
    const queueNameDimension = (queueId: string) =>
      alarms.filter(
        (alarm) =>
          alarm.MetricName === "ApproximateNumberOfMessagesVisible" &&
          JSON.stringify(alarm.Dimensions).includes(`"${queueId}","QueueName"`),
      );
    assert.equal(queueNameDimension(LOGICAL_IDS.deadLetterQueue).length, 1, "DLQ depth");
    assert.equal(queueNameDimension(LOGICAL_IDS.fanoutFailureQueue).length, 1, "failure queue depth");
    for (const alarm of [
      ...queueNameDimension(LOGICAL_IDS.deadLetterQueue),
      ...queueNameDimension(LOGICAL_IDS.fanoutFailureQueue),
    ]) {
      assert.equal(alarm.Threshold, 1);
      assert.equal(alarm.ComparisonOperator, "GreaterThanOrEqualToThreshold");
    }
    assert.equal(on("IteratorAge", LOGICAL_IDS.fanoutFunction).length, 1, "iterator age");
    assert.equal(on("Errors", LOGICAL_IDS.fanoutFunction).length, 1, "fan-out errors");
    assert.equal(on("Errors", LOGICAL_IDS.ingestFunction).length, 1, "ingest errors");
    for (const alarm of alarms)
      assert.ok((alarm.AlarmActions as unknown[]).length > 0, "every alarm notifies");
  });

  /** Alarms on one of the pipeline's own EMF metrics, by name. */
  const pipelineAlarms = (metricName: string) =>
    ofType(resources, "AWS::CloudWatch::Alarm")
      .map(([, alarm]) => alarm.Properties ?? {})
      .filter((alarm) => alarm.MetricName === metricName && alarm.Namespace === METRICS_NAMESPACE);

  it("alarms on ingest messages handed back as batch item failures (Lambda's Errors never sees them)", () => {
    const alarms = pipelineAlarms(METRIC.ingestMessagesFailed);
    assert.equal(alarms.length, 1);
    const alarm = alarms[0] ?? {};
    assert.deepEqual(alarm.Dimensions, [{ Name: "service", Value: "sliceline-ingest" }]);
    assert.equal(alarm.Statistic, "Sum");
    assert.equal(alarm.Threshold, 1);
    assert.equal(alarm.ComparisonOperator, "GreaterThanOrEqualToThreshold");
    assert.equal(alarm.TreatMissingData, "notBreaching");
  });

  it("reads the ingest's metrics under the service name its function is given", () => {
    const service = environmentOf(resources, LOGICAL_IDS.ingestFunction).POWERTOOLS_SERVICE_NAME;
    for (const metric of [
      METRIC.ingestMessagesFailed,
      METRIC.eventsDeadLettered,
      METRIC.identityRangeUsedPercent,
    ])
      for (const alarm of pipelineAlarms(metric))
        assert.deepEqual(alarm.Dimensions, [{ Name: "service", Value: service }], metric);
  });

  it("alarms on events the ingest dead-letters itself", () => {
    const alarms = pipelineAlarms(METRIC.eventsDeadLettered);
    assert.equal(alarms.length, 1);
    assert.deepEqual(alarms[0]?.Dimensions, [{ Name: "service", Value: "sliceline-ingest" }]);
    assert.equal(alarms[0]?.Threshold, 1);
    assert.equal(alarms[0]?.Statistic, "Sum");
  });

  it("alarms at 80 % and 95 % of the identity range", () => {
    const alarms = pipelineAlarms(METRIC.identityRangeUsedPercent);
    assert.deepEqual(alarms.map((alarm) => alarm.Threshold).sort(), [80, 95]);
    for (const alarm of alarms) {
      assert.deepEqual(alarm.Dimensions, [{ Name: "service", Value: "sliceline-ingest" }]);
      assert.equal(alarm.Statistic, "Maximum");
      assert.equal(alarm.ComparisonOperator, "GreaterThanOrEqualToThreshold");
      assert.ok((alarm.AlarmActions as unknown[]).length > 0);
    }
  });

  it("labels each latency graph with the hop it measures", () => {
    const body = render(ofType(resources, "AWS::CloudWatch::Dashboard")[0]?.[1].Properties?.DashboardBody);
    const titles = [...body.matchAll(/"title":"([^"]*)"/g)].map((match) => match[1] ?? "");
    const latencyTitles = titles.filter((title) => /latency/i.test(title) && !title.startsWith("HTTP"));
    assert.ok(latencyTitles.length >= 2, latencyTitles.join(" | "));
    for (const title of latencyTitles) assert.doesNotMatch(title, /watcher/i, "no hop ends at a watcher");
    assert.ok(latencyTitles.some((title) => /slice committed/.test(title)));
    assert.ok(latencyTitles.some((title) => /published/.test(title)));
    assert.ok(body.includes(`MetricName=\\"${METRIC.ingestLatency}\\"`));
  });

  it("reads metric names and the namespace from shared/config/metric-names.ts, the one definition", async () => {
    const settings = (await import("#infra/settings.ts")) as Record<string, unknown>;
    assert.equal(settings.METRICS_NAMESPACE, undefined, "no second METRICS_NAMESPACE");
    for (const id of FUNCTIONS)
      assert.equal(environmentOf(resources, id).POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE, id);
  });

  it("has a dashboard with the pipeline's EMF metrics", () => {
    const dashboards = ofType(resources, "AWS::CloudWatch::Dashboard");
    assert.equal(dashboards.length, 1);
    const body = render(dashboards[0]?.[1].Properties?.DashboardBody);
    for (const metric of ["EventsIn", "SliceWrites", "Deliveries", "PropagationLatency", "IteratorAge"]) {
      assert.ok(body.includes(metric), metric);
    }
    assert.ok(body.includes('Namespace=\\"Sliceline\\"'));
  });
});

describe("settings", () => {
  const lookup = (values: Record<string, unknown>) => (key: string) => values[key];

  it("has sandbox defaults", () => {
    const settings = readSettings(lookup({}));
    assert.equal(settings.production, false);
    assert.deepEqual(settings.zones, ["zone-a", "zone-b", "zone-c"]);
    assert.equal(settings.stackName, "Sliceline");
    assert.equal(settings.fanoutFormat, "bundles");
  });

  it("accepts command-line strings and cdk.json values alike", () => {
    const fromCli = readSettings(lookup({ production: "true", zones: "a, b", ingestBatchSize: "50" }));
    const fromJson = readSettings(lookup({ production: true, zones: ["a", "b"], ingestBatchSize: 50 }));
    assert.deepEqual(fromCli, fromJson);
  });

  it("rejects values AWS would reject, naming the key", () => {
    const bad: Record<string, unknown>[] = [
      { ingestBatchSize: 20_000 },
      { ingestBatchSize: 100, ingestBatchWindowSeconds: 0 },
      { priorityBatchSize: 11 },
      { ingestMaxConcurrency: 1 },
      { fanoutMaxRecordAgeSeconds: 30 },
      { logRetentionDays: 13 },
      { zones: "has space" },
      { watcherQueuePrefix: "bad/prefix" },
      { production: "yes" },
      { slicing: "{not json" },
      { fanoutFormat: "json" },
      { watcherAuthorization: "iam" },
      { watcherAdminPrincipals: "arn:aws:iam::*:role/{node}" },
      { watcherTtlSeconds: 0 },
      { watcherSweepMinutes: 0 },
      { watchTimeoutSeconds: 901 },
      { watchReservedConcurrency: 0 },
    ];
    for (const values of bad) {
      const key = Object.keys(values).at(-1) as string;
      assert.throws(
        () => readSettings(lookup(values)),
        (error: Error) => {
          assert.ok(error instanceof SettingsError);
          assert.ok(error.message.includes(key), `${error.message} names ${key}`);
          return true;
        },
      );
    }
  });
});

describe("client policies", () => {
  const managed = (prefix: string) =>
    identityStatements(resources).filter((s) => s.owner.startsWith(`ClientPolicies${prefix}`));
  const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

  it("lets a node agent invoke the API's read and watcher paths and use only its own, tagged queue", () => {
    const statements = managed("NodeAgentPolicy");
    assert.deepEqual(
      statements.map((s) => [...s.actions].sort()),
      [
        ["execute-api:Invoke"],
        ["lambda:InvokeFunctionUrl"],
        ["lambda:InvokeFunction"],
        ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
      ],
    );
    const api = `arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${${LOGICAL_IDS.httpApi}}`;
    assert.deepEqual([...(statements[0]?.resources ?? [])].sort(), [
      `${api}/*/*/v1/watchers/*`,
      `${api}/*/GET/*`,
      `${api}/*/POST/v1/watchers`,
    ]);
    assert.deepEqual(statements[3]?.resources, [
      `arn:\${AWS::Partition}:sqs:\${AWS::Region}:\${AWS::AccountId}:sliceline-watcher-\${aws:PrincipalTag/sliceline-queue}`,
    ]);
  });

  it("lets a node agent call the watch function through its IAM-auth URL, and invoke it no other way", () => {
    const policy = Object.values(resources).find(
      (resource) =>
        resource.Type === "AWS::IAM::ManagedPolicy" &&
        String(resource.Properties?.Description).startsWith("sliceline node agent"),
    );
    const document = policy?.Properties?.PolicyDocument as
      | { Statement: Array<{ Sid: string; Action: string; Resource: unknown; Condition: unknown }> }
      | undefined;
    const statements = (document?.Statement ?? []).filter((s) => s.Sid.startsWith("WatchFunction"));
    assert.deepEqual(
      statements.map((s) => [s.Sid, s.Action, render(s.Resource), s.Condition]),
      [
        [
          "WatchFunctionUrl",
          "lambda:InvokeFunctionUrl",
          `\${${LOGICAL_IDS.apiWatchFunction}.Arn}`,
          { StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" } },
        ],
        [
          "WatchFunctionViaUrlOnly",
          "lambda:InvokeFunction",
          `\${${LOGICAL_IDS.apiWatchFunction}.Arn}`,
          { Bool: { "lambda:InvokedViaFunctionUrl": "true" } },
        ],
      ],
    );
  });

  it("lets a bridge send to the two ingest queues and nothing else", () => {
    const statements = managed("BridgePolicy");
    assert.equal(statements.length, 1);
    assert.deepEqual([...(statements[0]?.actions ?? [])].sort(), [
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:SendMessage",
    ]);
    assert.deepEqual(statements[0]?.resources, [
      `\${${LOGICAL_IDS.ingestQueue}.Arn}`,
      `\${${LOGICAL_IDS.priorityIngestQueue}.Arn}`,
    ]);
  });

  it("outputs both policies' ARNs, the watcher queue prefix and the watch URL", () => {
    assert.deepEqual(outputs.WatchUrl?.Value, {
      "Fn::GetAtt": [LOGICAL_IDS.watchFunctionUrl, "FunctionUrl"],
    });
    for (const name of ["NodeAgentPolicyArn", "BridgePolicyArn", "WatcherQueuePrefix"])
      assert.ok(outputs[name] !== undefined, name);
    assert.equal(outputs.WatcherQueuePrefix?.Value, "sliceline-watcher-");
  });
});
