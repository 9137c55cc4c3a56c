/**
 * LocalStack deploy mode without LocalStack: `cdk deploy --outputs-file` content to the
 * .sliceline/local.json the tests and tools read, and the environment cdklocal runs under.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cdklocalEnvironment } from "#scripts/localstack/cdklocal-environment.ts";
import { apiUrlOf, deployedConfig, type StackOutputs } from "#scripts/localstack/deployed-config.ts";
import { readPipelineConfig } from "#test/support/pipeline-target.ts";

const EDGE = "http://localhost.localstack.cloud:4566";
const SQS = "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000";
const TOPIC = "arn:aws:sns:us-east-1:000000000000";

const OUTPUTS: StackOutputs = {
  Sliceline: {
    IngestQueueUrl: `${SQS}/Sliceline-IngestQueue-1`,
    PriorityIngestQueueUrl: `${SQS}/Sliceline-PriorityIngestQueue-2`,
    DeadLetterQueueUrl: `${SQS}/Sliceline-IngestDeadLetterQueue-3`,
    FanoutFailureQueueUrl: `${SQS}/Sliceline-FanoutFailureQueue-4`,
    ApiUrl: "https://a1b2c3d4.execute-api.us-east-1.amazonaws.com",
    ApiId: "a1b2c3d4",
    WatchUrl: "http://w1x2y3z4.lambda-url.us-east-1.localhost.localstack.cloud:4566/",
    StateTableName: "Sliceline-StateTable-5",
    SlicesTableName: "Sliceline-SlicesTable-6",
    IdentitiesTableName: "Sliceline-IdentitiesTable-7",
    WatchersTableName: "Sliceline-WatchersTable-8",
    SlicesTableStreamArn:
      "arn:aws:dynamodb:us-east-1:000000000000:table/Sliceline-SlicesTable-6/stream/2026-11-25T15:00:00.000",
    ChangeTopicArns: JSON.stringify({
      ChangeTopicsEndpointSliceB91EDCFA: `${TOPIC}:EndpointSlice`,
      ChangeTopicsCilium19065C84: `${TOPIC}:Cilium`,
    }),
    AlarmTopicArn: `${TOPIC}:Alarms`,
    DashboardName: "sliceline",
  },
};

const input = {
  outputs: OUTPUTS,
  endpoint: EDGE,
  region: "us-east-1",
  outputsFile: "o.json",
  deployedAt: "t",
};

describe("deployedConfig", () => {
  it("describes the deployed stack in the local runner's shape, keyed by logical id", () => {
    const config = deployedConfig(input);
    assert.equal(config.mode, "localstack-deploy");
    assert.equal(config.stackName, "Sliceline");
    assert.equal(config.api, "http://a1b2c3d4.execute-api.localhost.localstack.cloud:4566");
    assert.equal(config.watchUrl, "http://w1x2y3z4.lambda-url.us-east-1.localhost.localstack.cloud:4566/");
    assert.deepEqual(config.sqs, {
      endpoint: EDGE,
      ingestQueueUrl: `${SQS}/Sliceline-IngestQueue-1`,
      priorityIngestQueueUrl: `${SQS}/Sliceline-PriorityIngestQueue-2`,
      deadLetterQueueUrl: `${SQS}/Sliceline-IngestDeadLetterQueue-3`,
      fanoutFailureQueueUrl: `${SQS}/Sliceline-FanoutFailureQueue-4`,
      queues: {
        IngestQueue: `${SQS}/Sliceline-IngestQueue-1`,
        PriorityIngestQueue: `${SQS}/Sliceline-PriorityIngestQueue-2`,
        IngestDeadLetterQueue: `${SQS}/Sliceline-IngestDeadLetterQueue-3`,
        FanoutFailureQueue: `${SQS}/Sliceline-FanoutFailureQueue-4`,
      },
    });
    assert.deepEqual(config.dynamodb, {
      endpoint: EDGE,
      tables: {
        StateTable: "Sliceline-StateTable-5",
        SlicesTable: "Sliceline-SlicesTable-6",
        IdentitiesTable: "Sliceline-IdentitiesTable-7",
        WatchersTable: "Sliceline-WatchersTable-8",
      },
      streams: { SlicesTable: OUTPUTS.Sliceline?.SlicesTableStreamArn },
    });
    assert.deepEqual(config.sns, {
      endpoint: EDGE,
      topics: {
        ChangeTopicsEndpointSliceB91EDCFA: `${TOPIC}:EndpointSlice`,
        ChangeTopicsCilium19065C84: `${TOPIC}:Cilium`,
        AlarmTopic: `${TOPIC}:Alarms`,
      },
    });
  });

  it("is what the target-agnostic spec reads, and meets docs/contract.md §5", () => {
    const config = JSON.parse(JSON.stringify(deployedConfig(input))) as unknown;
    const target = readPipelineConfig(config);
    assert.equal(target.api, "http://a1b2c3d4.execute-api.localhost.localstack.cloud:4566");
    assert.equal(target.sqs.ingestQueueUrl, `${SQS}/Sliceline-IngestQueue-1`);
    assert.equal(target.sqs.deadLetterQueueUrl, `${SQS}/Sliceline-IngestDeadLetterQueue-3`);
    assert.equal((config as { dynamodb: { endpoint: string } }).dynamodb.endpoint, EDGE);
  });

  it("names what is missing, and which stack to pick", () => {
    const { IngestQueueUrl: _, ...withoutIngest } = OUTPUTS.Sliceline ?? {};
    assert.throws(
      () => deployedConfig({ ...input, outputs: { Sliceline: withoutIngest } }),
      /output IngestQueueUrl is missing/,
    );
    const two = { ...OUTPUTS, Other: {} };
    assert.throws(() => deployedConfig({ ...input, outputs: two }), /2 stacks .*name one/);
    assert.equal(deployedConfig({ ...input, outputs: two, stackName: "Sliceline" }).stackName, "Sliceline");
    assert.throws(() => deployedConfig({ ...input, stackName: "Nope" }), /no stack Nope/);
    assert.equal(deployedConfig({ ...input, apiUrl: "http://127.0.0.1:9/x" }).api, "http://127.0.0.1:9/x");
  });
});

describe("apiUrlOf", () => {
  it("keeps an endpoint LocalStack already rewrote, replaces an AWS one by LocalStack's host form", () => {
    assert.equal(
      apiUrlOf("abc", "https://abc.execute-api.localhost.localstack.cloud:4566/", EDGE),
      "https://abc.execute-api.localhost.localstack.cloud:4566",
    );
    assert.equal(
      apiUrlOf("abc", "https://abc.execute-api.eu-west-1.amazonaws.com", "http://127.0.0.1:4567"),
      "http://abc.execute-api.localhost.localstack.cloud:4567",
    );
    assert.equal(
      apiUrlOf("abc", undefined, "https://localstack.internal:443"),
      "https://abc.execute-api.localstack.internal",
    );
  });
});

describe("cdklocalEnvironment", () => {
  it("keeps the region through cdklocal's clean-up and defaults the endpoint as cdklocal does", () => {
    const { env, endpoint, region } = cdklocalEnvironment({ AWS_REGION: "eu-west-1", AWS_PROFILE: "prod" });
    assert.equal(region, "eu-west-1");
    assert.equal(env.AWS_DEFAULT_REGION, "eu-west-1");
    assert.deepEqual(env.AWS_ENVAR_ALLOWLIST?.split(",").sort(), ["AWS_DEFAULT_REGION", "AWS_REGION"]);
    assert.equal(endpoint, "http://localhost.localstack.cloud:4566");
    assert.equal(env.AWS_ENDPOINT_URL, undefined, "left to cdklocal");
    assert.equal(
      cdklocalEnvironment({ EDGE_PORT: "4567", USE_SSL: "1" }).endpoint,
      "https://localhost.localstack.cloud:4567",
    );
    assert.equal(cdklocalEnvironment({}).region, "us-east-1");
  });

  it("sets both endpoint variables cdklocal requires for an explicit endpoint", () => {
    const { env, endpoint } = cdklocalEnvironment(
      { AWS_ENVAR_ALLOWLIST: "AWS_PROFILE" },
      "http://127.0.0.1:4566/",
    );
    assert.equal(endpoint, "http://127.0.0.1:4566");
    assert.equal(env.AWS_ENDPOINT_URL, "http://127.0.0.1:4566");
    assert.equal(env.AWS_ENDPOINT_URL_S3, "http://s3.localhost.localstack.cloud:4566");
    assert.ok(env.AWS_ENVAR_ALLOWLIST?.split(",").includes("AWS_PROFILE"));
    assert.throws(() => cdklocalEnvironment({}, "http://10.0.0.5:4566"), /set AWS_ENDPOINT_URL_S3/);
    const remote = cdklocalEnvironment(
      { AWS_ENDPOINT_URL_S3: "http://s3.ls.example:4566" },
      "http://ls.example:4566",
    );
    assert.equal(remote.env.AWS_ENDPOINT_URL_S3, "http://s3.ls.example:4566");
  });
});
