/**
 * Watcher queues are created by the API at run time, so CloudFormation does not know them and
 * `cdk destroy` would leave them (and their subscriptions) behind. This custom resource is deleted
 * with the stack and, when it is, its function removes every queue named with the channel prefix
 * and their subscriptions to the change topics (functions/watcher-sweeper). It is backed directly
 * by that function (no Provider framework: no extra function with a runtime of CDK's choosing).
 *
 * Deletion order: the API function depends on this resource, so CloudFormation deletes the API
 * first (no new queue appears during the sweep), then this resource (the sweep), then the topics
 * and the sweeper's function and role it references.
 */

import { CustomResource, Validations } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import type { ChangeTopics } from "#infra/constructs/change-topics.ts";
import { PipelineFunction } from "#infra/constructs/pipeline-function.ts";
import type { WatcherChannels } from "#infra/constructs/watcher-channels.ts";
import type { Settings } from "#infra/settings.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";

export const WATCHER_SWEEPER_FUNCTION_ID = "WatcherSweeperFunction";

export interface WatcherSweeperProps {
  readonly channels: WatcherChannels;
  readonly topics: ChangeTopics;
  readonly settings: Settings;
}

export class WatcherSweeper extends Construct {
  readonly handler: PipelineFunction;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: WatcherSweeperProps) {
    super(scope, id);
    const { channels, topics, settings } = props;
    const topicArns = [...topics.byScope.values()].map((topic) => topic.topicArn);
    this.handler = new PipelineFunction(this, "Handler", {
      logicalId: WATCHER_SWEEPER_FUNCTION_ID,
      entry: "functions/watcher-sweeper/handler.ts",
      description:
        "sliceline: removes the run-time watcher queues and subscriptions when the stack is deleted",
      serviceName: SERVICE_NAMES.watcherSweeper,
      memoryMb: 256,
      // Thousands of queues at SQS's and SNS's API rates: give it Lambda's longest.
      timeoutSeconds: 900,
      settings,
      otherStarResourceGrants:
        "sqs:ListQueues, which has no resource-level permissions (IAM evaluates it against '*'); the " +
        "sweep only deletes queues named with the channel prefix",
    });
    const fn = this.handler.function;
    // Exactly what functions/watcher-sweeper sends (test/infra/grants.test.ts).
    fn.addToRolePolicy(new PolicyStatement({ actions: ["sqs:ListQueues"], resources: ["*"] }));
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ["sqs:DeleteQueue"], resources: [channels.queueArnPattern] }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ["sns:ListSubscriptionsByTopic", "sns:Unsubscribe"],
        resources: topicArns,
      }),
    );
    const policy = this.handler.role.node.tryFindChild("DefaultPolicy");
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${channels.queueNamePrefix}*]`,
        reason:
          "The sweeper deletes the watcher queues the API created at run time, whose names are not known " +
          `at deploy time; the grant is sqs:DeleteQueue alone, on queues named '${channels.queueNamePrefix}*' ` +
          "in this account and region.",
      });
    }

    this.resource = new CustomResource(this, "Resource", {
      serviceToken: fn.functionArn,
      resourceType: "Custom::WatcherChannelSweep",
      properties: { QueueNamePrefix: channels.queueNamePrefix, TopicArns: topicArns },
    });
    // The sweep needs the function's role and policy until it has answered.
    this.resource.node.addDependency(this.handler);
  }
}
