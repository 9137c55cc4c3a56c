/**
 * The watcher-channel sweeper custom resource on fauxqs: the handler built over fauxqs' clients, answering CloudFormation
 * through a local HTTP server standing in for the pre-signed response URL. On Delete it removes
 * every queue named with the prefix and their subscriptions, and leaves everything else alone.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Logger } from "@aws-lambda-powertools/logger";
import { CreateTopicCommand, ListSubscriptionsByTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, ListQueuesCommand } from "@aws-sdk/client-sqs";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { createWatcherSweeperHandler } from "#functions/watcher-sweeper/create-handler.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { quietPowertools } from "#test/support/lambda.ts";

const PREFIX = "sweep-test-w-";

let messaging: FauxqsHandle;
let responses: { body: Record<string, unknown>; contentType: string | undefined }[];
let server: Server;
let responseUrl: string;
let handler: (event: CloudFormationCustomResourceEvent) => Promise<void>;
const topicArns: string[] = [];

before(async () => {
  quietPowertools();
  messaging = await startLocalMessaging();
  responses = [];
  server = createServer((request, reply) => {
    let text = "";
    request.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
    });
    request.on("end", () => {
      responses.push({ body: JSON.parse(text), contentType: request.headers["content-type"] });
      reply.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/response`;
  for (const name of ["sweep-EndpointSlice", "sweep-Cilium"]) {
    topicArns.push((await messaging.sns.send(new CreateTopicCommand({ Name: name }))).TopicArn as string);
  }
  handler = createWatcherSweeperHandler({
    sqs: messaging.sqs,
    sns: messaging.sns,
    logger: new Logger({ serviceName: SERVICE_NAMES.watcherSweeper }),
    put: fetch,
  });
});
after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await messaging?.stop();
});

/** A queue subscribed to `topics`, as the API's registration leaves it. */
async function subscribedQueue(name: string, topics: readonly string[]): Promise<string> {
  const { QueueUrl } = await messaging.sqs.send(new CreateQueueCommand({ QueueName: name }));
  const attributes = await messaging.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  const arn = attributes.Attributes?.QueueArn as string;
  for (const topic of topics)
    await messaging.sns.send(new SubscribeCommand({ TopicArn: topic, Protocol: "sqs", Endpoint: arn }));
  return arn;
}

async function queuesNamed(prefix: string): Promise<string[]> {
  const listed = await messaging.sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
  return (listed.QueueUrls ?? []).map((url) => url.slice(url.lastIndexOf("/") + 1)).sort();
}

async function subscribedEndpoints(): Promise<string[]> {
  const endpoints: string[] = [];
  for (const topic of topicArns) {
    const listed = await messaging.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic }));
    for (const subscription of listed.Subscriptions ?? []) endpoints.push(subscription.Endpoint ?? "");
  }
  return endpoints.map((arn) => arn.slice(arn.lastIndexOf(":") + 1)).sort();
}

function cfnEvent(requestType: "Create" | "Delete", prefix: string): CloudFormationCustomResourceEvent {
  return {
    RequestType: requestType,
    ServiceToken: "arn:aws:lambda:us-east-1:000000000000:function:sweeper",
    ResponseURL: responseUrl,
    StackId: "arn:aws:cloudformation:us-east-1:000000000000:stack/Sliceline/1",
    RequestId: `request-${requestType}`,
    LogicalResourceId: "WatcherChannelSweep",
    ResourceType: "Custom::WatcherChannelSweep",
    ResourceProperties: { ServiceToken: "arn", QueueNamePrefix: prefix, TopicArns: topicArns },
    ...(requestType === "Delete" ? { PhysicalResourceId: `watcher-channels:${prefix}` } : {}),
  } as CloudFormationCustomResourceEvent;
}

describe("watcher-channel sweeper (custom resource, fauxqs)", () => {
  it("creates nothing, and on Delete removes the prefix's queues and subscriptions only", async () => {
    await subscribedQueue(`${PREFIX}node-1`, topicArns);
    await subscribedQueue(`${PREFIX}node-2`, [topicArns[0] as string]);
    // Registration that failed half-way: a queue, no subscription.
    await subscribedQueue(`${PREFIX}node-3`, []);
    await subscribedQueue("sweep-test-other", topicArns);
    await subscribedQueue("sweep-test-w", [topicArns[1] as string]);

    await handler(cfnEvent("Create", PREFIX));
    assert.equal(responses.at(-1)?.body.Status, "SUCCESS");
    assert.equal(responses.at(-1)?.body.PhysicalResourceId, `watcher-channels:${PREFIX}`);
    assert.deepEqual(await queuesNamed(PREFIX), [`${PREFIX}node-1`, `${PREFIX}node-2`, `${PREFIX}node-3`]);

    await handler(cfnEvent("Delete", PREFIX));
    const answer = responses.at(-1);
    assert.equal(answer?.body.Status, "SUCCESS", String(answer?.body.Reason));
    assert.equal(answer?.body.RequestId, "request-Delete");
    assert.equal(answer?.body.LogicalResourceId, "WatcherChannelSweep");
    assert.equal(answer?.body.PhysicalResourceId, `watcher-channels:${PREFIX}`);
    assert.deepEqual(answer?.body.Data, { subscriptionsRemoved: 3, queuesDeleted: 3 });
    assert.equal(answer?.contentType, "", "no content type: the pre-signed URL does not sign one");

    assert.deepEqual(await queuesNamed(PREFIX), []);
    assert.deepEqual(await queuesNamed("sweep-test-"), ["sweep-test-other", "sweep-test-w"]);
    assert.deepEqual(await subscribedEndpoints(), ["sweep-test-other", "sweep-test-other", "sweep-test-w"]);
  });

  it("answers FAILED with the reason, deleting nothing, when the prefix would match everything", async () => {
    await handler(cfnEvent("Delete", ""));
    const answer = responses.at(-1);
    assert.equal(answer?.body.Status, "FAILED");
    assert.match(String(answer?.body.Reason), /SweepPrefixError.*npm run sweep-watchers/);
    assert.deepEqual(await queuesNamed("sweep-test-"), ["sweep-test-other", "sweep-test-w"]);
  });
});
