/**
 * Which IAM actions a handler's code can need, read from the code itself: each handler is bundled
 * the way Lambda gets it (esbuild, tree-shaken, dependencies left out so only sliceline's own code
 * remains), and every AWS SDK command it still constructs is mapped to the IAM action that
 * authorizes it. A transaction needs the actions of its item types (Put, Update, Delete,
 * ConditionCheck), so those are read from the bundle too.
 *
 * File-level reachability with tree shaking is conservative: a command in a method of a class the
 * handler uses counts even if that method is never called. It never misses a command the handler
 * constructs.
 */
import { join } from "node:path";
import { build } from "esbuild";
import { PROJECT_ROOT } from "#infra/constructs/pipeline-function.ts";

/** Powertools providers the handlers construct -> the IAM actions of the one call they make (get). */
const PROVIDER_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  SecretsProvider: ["secretsmanager:GetSecretValue"],
};

/** SDK v3 command (class name without "Command") -> IAM actions. lib-dynamodb's names included. */
const COMMAND_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  // DynamoDB (client-dynamodb and lib-dynamodb document commands).
  Get: ["dynamodb:GetItem"],
  GetItem: ["dynamodb:GetItem"],
  Put: ["dynamodb:PutItem"],
  PutItem: ["dynamodb:PutItem"],
  Update: ["dynamodb:UpdateItem"],
  UpdateItem: ["dynamodb:UpdateItem"],
  Delete: ["dynamodb:DeleteItem"],
  DeleteItem: ["dynamodb:DeleteItem"],
  Query: ["dynamodb:Query"],
  Scan: ["dynamodb:Scan"],
  BatchGet: ["dynamodb:BatchGetItem"],
  BatchGetItem: ["dynamodb:BatchGetItem"],
  BatchWrite: ["dynamodb:BatchWriteItem"],
  BatchWriteItem: ["dynamodb:BatchWriteItem"],
  // Item types come from the transaction's items (TRANSACT_ITEM_ACTIONS).
  TransactWrite: [],
  TransactWriteItems: [],
  // SQS.
  SendMessage: ["sqs:SendMessage"],
  SendMessageBatch: ["sqs:SendMessage"],
  CreateQueue: ["sqs:CreateQueue"],
  DeleteQueue: ["sqs:DeleteQueue"],
  GetQueueUrl: ["sqs:GetQueueUrl"],
  GetQueueAttributes: ["sqs:GetQueueAttributes"],
  SetQueueAttributes: ["sqs:SetQueueAttributes"],
  ListQueues: ["sqs:ListQueues"],
  ReceiveMessage: ["sqs:ReceiveMessage"],
  DeleteMessageBatch: ["sqs:DeleteMessage"],
  TagQueue: ["sqs:TagQueue"],
  ListQueueTags: ["sqs:ListQueueTags"],
  // SNS.
  Publish: ["sns:Publish"],
  PublishBatch: ["sns:Publish"],
  GetTopicAttributes: ["sns:GetTopicAttributes"],
  Subscribe: ["sns:Subscribe"],
  Unsubscribe: ["sns:Unsubscribe"],
  GetSubscriptionAttributes: ["sns:GetSubscriptionAttributes"],
  ListSubscriptionsByTopic: ["sns:ListSubscriptionsByTopic"],
  // CloudWatch.
  GetMetricData: ["cloudwatch:GetMetricData"],
  // Secrets Manager, SSM Parameter Store, KMS (keys read at run time).
  GetSecretValue: ["secretsmanager:GetSecretValue"],
  GetParameter: ["ssm:GetParameter"],
  GetParameters: ["ssm:GetParameters"],
};

const TRANSACT_ITEM_ACTIONS: Readonly<Record<string, string>> = {
  Put: "dynamodb:PutItem",
  Update: "dynamodb:UpdateItem",
  Delete: "dynamodb:DeleteItem",
  ConditionCheck: "dynamodb:ConditionCheckItem",
};

export class UnknownCommandError extends Error {
  override name = "UnknownCommandError";
}

export interface HandlerSdkUse {
  /** SDK commands constructed in the bundle, without the "Command" suffix. */
  readonly commands: readonly string[];
  /** The IAM actions those commands need. */
  readonly actions: readonly string[];
}

/** Bundles `entry` (relative to the repository root) and reads the SDK commands it constructs. */
export async function sdkUseOf(entry: string): Promise<HandlerSdkUse> {
  const result = await build({
    entryPoints: [join(PROJECT_ROOT, entry)],
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    target: "node24",
    packages: "external",
    treeShaking: true,
    minify: false,
    logLevel: "silent",
  });
  const code = result.outputFiles.map((file) => file.text).join("\n");
  // esbuild may suffix a renamed import (GetCommand2); the SDK's names end in "Command".
  const commands = [
    ...new Set([...code.matchAll(/\bnew (\w+?)Command\d*\(/g)].map((match) => match[1] ?? "")),
  ];
  const actions = new Set<string>();
  for (const command of commands) {
    const mapped = COMMAND_ACTIONS[command];
    if (mapped === undefined) throw new UnknownCommandError(`${entry}: no IAM mapping for ${command}Command`);
    for (const action of mapped) actions.add(action);
  }
  // Library classes that send SDK commands inside an external package (invisible to the bundle).
  for (const [provider, providerActions] of Object.entries(PROVIDER_ACTIONS)) {
    if (new RegExp(`\\bnew ${provider}\\d*\\(`).test(code)) {
      commands.push(provider);
      for (const action of providerActions) actions.add(action);
    }
  }
  if (commands.some((command) => command.startsWith("TransactWrite"))) {
    for (const match of code.matchAll(/\b(Put|Update|Delete|ConditionCheck):\s*\{/g)) {
      const action = TRANSACT_ITEM_ACTIONS[match[1] ?? ""];
      if (action !== undefined) actions.add(action);
    }
  }
  return { commands: commands.sort(), actions: [...actions].sort() };
}
