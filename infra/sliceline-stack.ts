/**
 * The sliceline pipeline on AWS, composed the way it reads:
 *
 *   IngestQueues ─▶ Ingest ─▶ SlicelineTables ─(slices stream)─▶ Fanout ─▶ ChangeTopics ─▶ watcher queues
 *                                    ▲                                         ▲
 *                                    └──────────── ReadApi ── WatcherChannels ─┘
 *                                                  WatchUrl (the API's code, streaming watches)
 *
 * plus WatcherSweeper (removes the run-time watcher queues on stack deletion) and Monitoring (alarms,
 * dashboard). Settings come from CDK context (infra/settings.ts).
 */
import { type CfnElement, CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { ChangeTopics } from "#infra/constructs/change-topics.ts";
import { ClientPolicies } from "#infra/constructs/client-policies.ts";
import { Fanout } from "#infra/constructs/fanout.ts";
import { Ingest } from "#infra/constructs/ingest.ts";
import { IngestQueues } from "#infra/constructs/ingest-queues.ts";
import { Monitoring } from "#infra/constructs/monitoring.ts";
import { ReadApi } from "#infra/constructs/read-api.ts";
import { SlicelineTables } from "#infra/constructs/tables.ts";
import { WatchUrl } from "#infra/constructs/watch-url.ts";
import { WatcherChannels } from "#infra/constructs/watcher-channels.ts";
import { WatcherSweeper } from "#infra/constructs/watcher-sweeper.ts";
import type { Settings } from "#infra/settings.ts";

export interface SlicelineStackProps extends StackProps {
  readonly settings: Settings;
}

export class SlicelineStack extends Stack {
  readonly queues: IngestQueues;
  readonly tables: SlicelineTables;
  readonly topics: ChangeTopics;
  readonly ingest: Ingest;
  readonly fanout: Fanout;
  readonly channels: WatcherChannels;
  readonly api: ReadApi;
  readonly watch: WatchUrl;
  readonly sweeper: WatcherSweeper;
  readonly monitoring: Monitoring;
  readonly clientPolicies: ClientPolicies;

  constructor(scope: Construct, id: string, props: SlicelineStackProps) {
    super(scope, id, { analyticsReporting: false, ...props });
    const { settings } = props;

    this.queues = new IngestQueues(this, "IngestQueues", {
      maxReceiveCount: settings.maxReceiveCount,
      consumerTimeoutSeconds: settings.ingestTimeoutSeconds,
    });
    this.tables = new SlicelineTables(this, "Tables", {
      production: settings.production,
      legacyKindIndex: settings.legacyKindIndex,
    });
    this.ingest = new Ingest(this, "Ingest", { queues: this.queues, tables: this.tables, settings });
    this.topics = new ChangeTopics(this, "ChangeTopics", { zones: settings.zones });
    this.fanout = new Fanout(this, "Fanout", { tables: this.tables, topics: this.topics, settings });
    this.channels = new WatcherChannels(this, "WatcherChannels", {
      queueNamePrefix: settings.watcherQueuePrefix,
      topics: this.topics,
      authorization: {
        mode: settings.watcherAuthorization,
        nodePrincipals: settings.watcherNodePrincipals,
        adminPrincipals: settings.watcherAdminPrincipals,
        capPerCaller: settings.watcherCapPerCaller,
      },
      ttlSeconds: settings.watcherTtlSeconds,
      sweepMinutes: settings.watcherSweepMinutes,
    });
    this.api = new ReadApi(this, "ReadApi", { tables: this.tables, channels: this.channels, settings });
    this.watch = new WatchUrl(this, "Watch", { api: this.api, settings });
    // Removes the queues the API creates at run time when the stack is deleted, after the API.
    this.sweeper = new WatcherSweeper(this, "WatcherSweeper", {
      channels: this.channels,
      topics: this.topics,
      settings,
    });
    this.api.handler.function.node.addDependency(this.sweeper.resource);
    // The watch function runs the same routes (watcher registration included).
    this.watch.handler.function.node.addDependency(this.sweeper.resource);
    this.monitoring = new Monitoring(this, "Monitoring", {
      ingestQueue: this.queues.ingestQueue,
      priorityQueue: this.queues.priorityQueue,
      deadLetterQueue: this.queues.deadLetterQueue,
      fanoutFailureQueue: this.fanout.failureQueue,
      ingestFunction: this.ingest.handler.function,
      ingestServiceName: this.ingest.handler.serviceName,
      fanoutFunction: this.fanout.handler.function,
      apiFunction: this.api.handler.function,
      watchFunction: this.watch.handler.function,
      httpApi: this.api.httpApi,
      iteratorAgeAlarmSeconds: settings.iteratorAgeAlarmSeconds,
      ingestQueueAgeAlarmSeconds: settings.ingestQueueAgeAlarmSeconds,
      alarmEmail: settings.alarmEmail,
    });
    this.clientPolicies = new ClientPolicies(this, "ClientPolicies", {
      httpApi: this.api.httpApi,
      watchFunction: this.watch.handler.function,
      queueNamePrefix: settings.watcherQueuePrefix,
      ingestQueues: [this.queues.ingestQueue, this.queues.priorityQueue],
    });

    this.outputs();
  }

  private outputs(): void {
    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output("IngestQueueUrl", this.queues.ingestQueue.queueUrl, "Send watch events here");
    output(
      "PriorityIngestQueueUrl",
      this.queues.priorityQueue.queueUrl,
      "Watch events of system-critical namespaces (kube-system, ...): no batching window",
    );
    output("DeadLetterQueueUrl", this.queues.deadLetterQueue.queueUrl, "Poison events, with their reason");
    output(
      "FanoutFailureQueueUrl",
      this.fanout.failureQueue.queueUrl,
      "Stream batches the fan-out gave up on",
    );
    output("ApiUrl", this.api.httpApi.apiEndpoint, "HTTP API (SigV4-signed requests, execute-api:Invoke)");
    output(
      "WatchUrl",
      this.watch.url.url,
      "The API behind a streaming function URL: watches that stream (SigV4 for service lambda, lambda:InvokeFunctionUrl)",
    );
    output(
      "SlicesTableName",
      this.tables.slices.table.tableName,
      "EndpointSlices, CiliumEndpointSlices, identities",
    );
    output(
      "NodeAgentPolicyArn",
      this.clientPolicies.nodeAgentPolicy.managedPolicyArn,
      "Attach to the node agents' role (sessions named after the node, tagged sliceline-queue)",
    );
    output(
      "BridgePolicyArn",
      this.clientPolicies.bridgePolicy.managedPolicyArn,
      "Attach to the bridge's role: send to the ingest queues",
    );
    output(
      "WatcherQueuePrefix",
      this.channels.queueNamePrefix,
      "Watcher queues are named <prefix><node, . as _>: the sliceline-queue tag is the part after it",
    );
    output("DashboardName", this.monitoring.dashboard.dashboardName, "CloudWatch dashboard");
    output("AlarmTopicArn", this.monitoring.alarmTopic.topicArn, "Alarm notifications");
    // What a tool needs to find a deployed pipeline (scripts/localstack-deploy.ts writes them to
    // .sliceline/local.json, keyed by logical id as the local runner keys them).
    output("ApiId", this.api.httpApi.apiId, "HTTP API id (LocalStack serves it on <id>.execute-api.<host>)");
    output("StateTableName", this.tables.state.table.tableName, "Object state: namespace groups, nodes");
    output("IdentitiesTableName", this.tables.identities.table.tableName, "Identity allocation");
    output("WatchersTableName", this.tables.watchers.table.tableName, "Registered watchers");
    output(
      "SlicesTableStreamArn",
      this.tables.slices.table.tableStreamArn ?? "",
      "The stream the fan-out reads",
    );
    const topics = [...this.topics.byScope.values()].map((topic) => [
      this.getLogicalId(topic.node.defaultChild as CfnElement),
      topic.topicArn,
    ]);
    output(
      "ChangeTopicArns",
      this.toJsonString(Object.fromEntries(topics)),
      "Change topic ARN by logical id (JSON)",
    );
  }
}
