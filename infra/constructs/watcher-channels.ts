/**
 * Watcher channels: one SQS queue per registered watcher, created and deleted at run time by the
 * API (POST / DELETE /v1/watchers) and subscribed to the change topics of the scopes the watcher
 * asked for. The stack creates none of them; it grants exactly that lifecycle on queues whose name
 * starts with the channel prefix, and on the change topics. It also hands the API function the
 * watcher authorization policy and registration TTL, and schedules the sweep of expired watchers
 * (an EventBridge rule invoking the API function with WATCHER_SWEEP_EVENT).
 */
import { Aws, type CfnResource, Duration, Validations } from "aws-cdk-lib";
import { Rule, RuleTargetInput, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction as LambdaFunctionTarget } from "aws-cdk-lib/aws-events-targets";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import type { ChangeTopics } from "#infra/constructs/change-topics.ts";
import { grantTopicsSubscribeTo } from "#infra/wiring.ts";
import type { WatcherAuthorizationPolicy } from "#shared/api/watcher-authorization.ts";
import { WATCHER_SWEEP_EVENT } from "#shared/api/watcher-registry.ts";
import { ENV, LOGICAL_IDS } from "#shared/config/resources.ts";

/** Carries the queue name prefix to the API function. */
export const WATCHER_QUEUE_PREFIX_ENV = ENV.watcherQueuePrefix;

/**
 * What creating, inspecting and deleting a channel queue takes: CreateQueue (with its attributes,
 * the access policy included, in the same call), GetQueueAttributes (its ARN), GetQueueUrl and
 * DeleteQueue. No SetQueueAttributes: attributes are only ever set at creation.
 */
export const CHANNEL_QUEUE_ACTIONS = [
  "sqs:CreateQueue",
  "sqs:GetQueueUrl",
  "sqs:GetQueueAttributes",
  "sqs:DeleteQueue",
] as const;

export interface WatcherChannelsProps {
  readonly queueNamePrefix: string;
  readonly topics: ChangeTopics;
  readonly authorization: WatcherAuthorizationPolicy;
  readonly ttlSeconds: number;
  readonly sweepMinutes: number;
}

export class WatcherChannels extends Construct {
  readonly queueNamePrefix: string;
  /** arn:<partition>:sqs:<region>:<account>:<prefix>* */
  readonly queueArnPattern: string;
  readonly topics: ChangeTopics;
  readonly #props: WatcherChannelsProps;

  constructor(scope: Construct, id: string, props: WatcherChannelsProps) {
    super(scope, id);
    this.#props = props;
    this.queueNamePrefix = props.queueNamePrefix;
    this.topics = props.topics;
    // Pseudo parameters (not the stack's literal env), so the ARN reads the same in every template.
    this.queueArnPattern = `arn:${Aws.PARTITION}:sqs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${props.queueNamePrefix}*`;
  }

  /** Lets `fn` create and delete channel queues and (un)subscribe them; sets the prefix and topic ARNs. */
  grantManageTo(fn: LambdaFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({ actions: [...CHANNEL_QUEUE_ACTIONS], resources: [this.queueArnPattern] }),
    );
    const policy = fn.role?.node.tryFindChild("DefaultPolicy");
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${this.queueNamePrefix}*]`,
        reason:
          "Watcher channel queues are created at run time (one per registered watcher), so their names " +
          `are not known at deploy time; the grant covers only queues named '${this.queueNamePrefix}*' ` +
          "in this account and region, and only the lifecycle actions the API sends (CreateQueue, " +
          "GetQueueUrl, GetQueueAttributes, DeleteQueue; no Receive, Send, Purge or SetQueueAttributes).",
      });
    }
    fn.addEnvironment(WATCHER_QUEUE_PREFIX_ENV, this.queueNamePrefix);
    fn.addEnvironment(ENV.watcherAuthorization, JSON.stringify(this.#props.authorization));
    fn.addEnvironment(ENV.watcherTtlSeconds, String(this.#props.ttlSeconds));
    grantTopicsSubscribeTo(fn, this.topics.byScope);
  }

  /** Invokes `fn` (which grantManageTo equipped) every sweepMinutes to remove expired watchers. */
  scheduleSweepOn(fn: LambdaFunction): Rule {
    const rule = new Rule(this, "SweepSchedule", {
      description: "sliceline: remove watcher registrations (queues, subscriptions) that went silent",
      schedule: Schedule.rate(Duration.minutes(this.#props.sweepMinutes)),
      targets: [new LambdaFunctionTarget(fn, { event: RuleTargetInput.fromObject(WATCHER_SWEEP_EVENT) })],
    });
    (rule.node.defaultChild as CfnResource).overrideLogicalId(LOGICAL_IDS.watcherSweepSchedule);
    return rule;
  }
}
