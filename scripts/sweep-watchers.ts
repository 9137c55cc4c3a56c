/**
 * Removes every watcher queue (and its subscriptions to the change topics) by hand: what the stack's
 * sweep custom resource does on `cdk destroy`, for when that failed or the stack is already gone.
 * Credentials, region and endpoints come from the usual AWS SDK environment (AWS_PROFILE,
 * AWS_REGION, AWS_ENDPOINT_URL_SQS / _SNS for an emulator).
 *
 *   npm run sweep-watchers -- --prefix sliceline-watcher- [--topic-arns '<ChangeTopicArns output>']
 *
 * --topic-arns takes the stack's ChangeTopicArns output (a JSON object) or a comma-separated list;
 * without it only the queues are deleted (a deleted topic takes its subscriptions with it).
 */
import { parseArgs } from "node:util";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { sweepWatcherChannels } from "#shared/adapters/watchers/watcher-channel-sweep.ts";

const { values } = parseArgs({
  options: {
    prefix: { type: "string", default: "sliceline-watcher-" },
    "topic-arns": { type: "string", default: "" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(
    "npm run sweep-watchers -- [--prefix sliceline-watcher-] [--topic-arns '<json object or a,b,c>']",
  );
  process.exit(0);
}

/** The ChangeTopicArns output ({"<logical id>": "<arn>", ...}) or a comma-separated list. */
function topicArnsFrom(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  if (trimmed.startsWith("{")) return Object.values(JSON.parse(trimmed) as Record<string, string>);
  return trimmed
    .split(",")
    .map((arn) => arn.trim())
    .filter((arn) => arn !== "");
}

const swept = await sweepWatcherChannels({
  sqs: createSqsClient(),
  sns: new SNSClient({}),
  queueNamePrefix: values.prefix,
  topicArns: topicArnsFrom(values["topic-arns"]),
});
console.log(
  `watcher queues '${values.prefix}*': ${swept.queuesDeleted} deleted, ${swept.subscriptionsRemoved} subscriptions removed`,
);
