/**
 * Configuration flows one way: the call that grants a function access to a resource also sets the
 * environment variable (named in ENV) through which the handler finds it. A handler can therefore
 * never be told about a resource it may not use, nor be allowed one it is not told about.
 *
 * Table grants list their actions and ARNs (the table and each of its named indexes) instead of
 * the `index/*` wildcard of Table.grantReadData.
 */
import { Stack } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import type { SlicelineTable } from "#infra/constructs/tables.ts";
import { ENV } from "#shared/config/resources.ts";

type EnvName = (typeof ENV)[keyof typeof ENV];

export type TableAccess = "read" | "readWrite";

const TABLE_READ_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:BatchGetItem",
  "dynamodb:Query",
  "dynamodb:Scan",
  "dynamodb:ConditionCheckItem",
  "dynamodb:DescribeTable",
] as const;

const TABLE_WRITE_ACTIONS = [
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:BatchWriteItem",
] as const;

/** The table ARN and the ARN of each of its indexes, spelled out. */
export function tableResourceArns({ schema, table }: SlicelineTable): string[] {
  return [table.tableArn, ...schema.globalIndexes.map((index) => `${table.tableArn}/index/${index.name}`)];
}

/** Grants `access` on the table and its indexes, and sets the table's ENV variable to its name. */
export function grantTableTo(fn: LambdaFunction, slicelineTable: SlicelineTable, access: TableAccess): void {
  const actions: string[] = [...TABLE_READ_ACTIONS];
  if (access === "readWrite") actions.push(...TABLE_WRITE_ACTIONS);
  fn.addToRolePolicy(new PolicyStatement({ actions, resources: tableResourceArns(slicelineTable) }));
  fn.addEnvironment(slicelineTable.schema.envName, slicelineTable.table.tableName);
}

/** Grants sending to the queue and sets `envName` to its URL. */
export function grantQueueSendTo(fn: LambdaFunction, queue: IQueue, envName: EnvName): void {
  queue.grantSendMessages(fn);
  fn.addEnvironment(envName, queue.queueUrl);
}

/** Grants publishing to every topic and sets ENV.changeTopicArns to the JSON map scope -> ARN. */
export function grantTopicsPublishTo(fn: LambdaFunction, topicsByScope: ReadonlyMap<string, ITopic>): void {
  for (const topic of topicsByScope.values()) topic.grantPublish(fn);
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
      actions: ["sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes"],
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
