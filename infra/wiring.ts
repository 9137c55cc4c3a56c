/**
 * Configuration flows one way: the call that grants a function access to a resource also sets the
 * environment variable (named in ENV) through which the handler finds it. A handler can therefore
 * never be told about a resource it may not use, nor be allowed one it is not told about.
 *
 * Every grant lists exactly the actions the function's code sends (test/infra/grants.test.ts reads
 * them from the bundled handlers and compares), and table grants name the table and each of its
 * indexes instead of the `index/*` wildcard of Table.grantReadData.
 */
import { Stack, Validations } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import type { SlicelineTable } from "#infra/constructs/tables.ts";
import { ENV } from "#shared/config/resources.ts";

type EnvName = (typeof ENV)[keyof typeof ENV];

/** DynamoDB item and query actions a function may be granted on a table (IAM names, no prefix). */
export type TableAction =
  | "GetItem"
  | "BatchGetItem"
  | "Query"
  | "Scan"
  | "ConditionCheckItem"
  | "PutItem"
  | "UpdateItem"
  | "DeleteItem"
  | "BatchWriteItem";

/**
 * What the ingest's writers send to the pipeline tables: point and batch reads, index queries,
 * conditional puts, updates and deletes, batch writes, and transactions (which need the actions of
 * their item types, ConditionCheckItem included). No Scan, no DescribeTable: nothing calls them.
 */
export const PIPELINE_WRITER_ACCESS: readonly TableAction[] = [
  "GetItem",
  "BatchGetItem",
  "Query",
  "ConditionCheckItem",
  "PutItem",
  "UpdateItem",
  "DeleteItem",
  "BatchWriteItem",
];

/** What the API's readers send: GetItem and Query (on the table and its indexes). */
export const READER_ACCESS: readonly TableAction[] = ["GetItem", "Query"];

/** The table ARN and the ARN of each of its indexes, spelled out. */
export function tableResourceArns({ schema, table }: SlicelineTable): string[] {
  return [table.tableArn, ...schema.globalIndexes.map((index) => `${table.tableArn}/index/${index.name}`)];
}

/**
 * Grants exactly `actions` on the table (and its indexes, for Query and Scan, the only actions
 * an index accepts), and sets the table's ENV variable to its name.
 */
export function grantTableTo(
  fn: LambdaFunction,
  slicelineTable: SlicelineTable,
  actions: readonly TableAction[],
): void {
  const readsIndexes = actions.includes("Query") || actions.includes("Scan");
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: actions.map((action) => `dynamodb:${action}`),
      resources: readsIndexes ? tableResourceArns(slicelineTable) : [slicelineTable.table.tableArn],
    }),
  );
  fn.addEnvironment(slicelineTable.schema.envName, slicelineTable.table.tableName);
}

/**
 * Grants sending to the queue (sqs:SendMessage, which also authorizes SendMessageBatch) and sets
 * `envName` to its URL. Not Queue.grantSendMessages: it adds GetQueueAttributes and GetQueueUrl,
 * which the senders never call (they are handed the URL). The stack's queues use SQS-managed
 * encryption, so no KMS grant is needed.
 */
export function grantQueueSendTo(fn: LambdaFunction, queue: IQueue, envName: EnvName): void {
  queue.grant(fn, "sqs:SendMessage");
  fn.addEnvironment(envName, queue.queueUrl);
}

/** Grants publishing to every topic and sets ENV.changeTopicArns to the JSON map scope -> ARN. */
export function grantTopicsPublishTo(fn: LambdaFunction, topicsByScope: ReadonlyMap<string, ITopic>): void {
  // On an encrypted topic this also grants kms:Decrypt and kms:GenerateDataKey* on its key.
  for (const topic of topicsByScope.values()) topic.grantPublish(fn);
  const policy = fn.role?.node.tryFindChild("DefaultPolicy");
  if (policy !== undefined && [...topicsByScope.values()].some((topic) => topic.masterKey !== undefined)) {
    Validations.of(policy).acknowledge({
      id: "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
      reason:
        "kms:GenerateDataKey* with kms:Decrypt is the permission AWS documents for publishers to an " +
        "SNS topic with server-side encryption (Topic.grantPublish grants exactly that), and it is " +
        "granted only on the change topics' own key, whose only use is encrypting those topics.",
    });
  }
  // The subscription count of each topic turns publishes into the Deliveries metric.
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: ["sns:GetTopicAttributes"],
      resources: [...topicsByScope.values()].map((topic) => topic.topicArn),
    }),
  );
  setTopicArns(fn, topicsByScope);
}

/**
 * Grants subscribing queues to every topic (and removing those subscriptions), and sets
 * ENV.changeTopicArns. Unsubscribe is authorized against the topic the subscription belongs to.
 */
export function grantTopicsSubscribeTo(fn: LambdaFunction, topicsByScope: ReadonlyMap<string, ITopic>): void {
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: ["sns:Subscribe", "sns:Unsubscribe"],
      resources: [...topicsByScope.values()].map((topic) => topic.topicArn),
    }),
  );
  setTopicArns(fn, topicsByScope);
}

function setTopicArns(fn: LambdaFunction, topicsByScope: ReadonlyMap<string, ITopic>): void {
  const arns = Object.fromEntries([...topicsByScope].map(([scope, topic]) => [scope, topic.topicArn]));
  fn.addEnvironment(ENV.changeTopicArns, Stack.of(fn).toJsonString(arns));
}

/** A plain setting (no resource behind it): only the variable. */
export function setSetting(fn: LambdaFunction, envName: EnvName, value: string): void {
  fn.addEnvironment(envName, value);
}
