/**
 * IAM managed policies for the two clients outside the stack (README "Node agent", docs/aws.md
 * "Client policies"):
 *   - NodeAgentPolicy, for the role node agents run as: read the API and call its watcher routes
 *     (execute-api:Invoke), the same through the watch function URL (lambda:InvokeFunctionUrl, and
 *     lambda:InvokeFunction only by way of a function URL, as AWS requires of URLs created since
 *     October 2025), and receive from and delete on the node's own watcher queue. The queue
 *     is named at run time (`<prefix><node>`), so the grant names it through the principal tag
 *     `sliceline-queue` (the queue name after the prefix: the node name with "." written "_"),
 *     set as a session tag when the node assumes the role; an untagged session gets no queue.
 *     Which node's watcher a caller may register is the API's check (the role session name).
 *   - BridgePolicy, for a bridge from a cluster: send to the ingest queues, nothing else.
 */
import { Aws, Validations } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import { ManagedPolicy, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { FunctionUrlAuthType, type IFunction } from "aws-cdk-lib/aws-lambda";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { LOGICAL_IDS } from "#shared/config/resources.ts";

/** The principal tag that names a node's queue (after the stack's prefix). */
export const NODE_QUEUE_TAG = "sliceline-queue";

/** What a node agent does on its queue (WatcherAgent: receive, delete; visibility for redelivery). */
export const NODE_QUEUE_ACTIONS = [
  "sqs:ReceiveMessage",
  "sqs:DeleteMessage",
  "sqs:ChangeMessageVisibility",
  "sqs:GetQueueAttributes",
] as const;

export const BRIDGE_QUEUE_ACTIONS = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"] as const;

export interface ClientPoliciesProps {
  readonly httpApi: HttpApi;
  /** The function behind the watch function URL (IAM auth). */
  readonly watchFunction: IFunction;
  readonly queueNamePrefix: string;
  readonly ingestQueues: readonly IQueue[];
}

export class ClientPolicies extends Construct {
  readonly nodeAgentPolicy: ManagedPolicy;
  readonly bridgePolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: ClientPoliciesProps) {
    super(scope, id);
    const apiArn = (stagePath: string) =>
      `arn:${Aws.PARTITION}:execute-api:${Aws.REGION}:${Aws.ACCOUNT_ID}:${props.httpApi.apiId}/${stagePath}`;
    // The API's logical id, as cdk-nag names it in a finding.
    const apiLogicalId = LOGICAL_IDS.httpApi;
    const ownQueue = `arn:${Aws.PARTITION}:sqs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${props.queueNamePrefix}\${aws:PrincipalTag/${NODE_QUEUE_TAG}}`;

    this.nodeAgentPolicy = new ManagedPolicy(this, "NodeAgentPolicy", {
      description: "sliceline node agent: read the API, its own watcher registration, its own watcher queue",
      statements: [
        new PolicyStatement({
          sid: "ReadApiAndWatcherRoutes",
          actions: ["execute-api:Invoke"],
          resources: [apiArn("*/GET/*"), apiArn("*/POST/v1/watchers"), apiArn("*/*/v1/watchers/*")],
        }),
        new PolicyStatement({
          sid: "WatchFunctionUrl",
          actions: ["lambda:InvokeFunctionUrl"],
          resources: [props.watchFunction.functionArn],
          conditions: { StringEquals: { "lambda:FunctionUrlAuthType": FunctionUrlAuthType.AWS_IAM } },
        }),
        new PolicyStatement({
          sid: "WatchFunctionViaUrlOnly",
          actions: ["lambda:InvokeFunction"],
          resources: [props.watchFunction.functionArn],
          conditions: { Bool: { "lambda:InvokedViaFunctionUrl": "true" } },
        }),
        new PolicyStatement({
          sid: "OwnWatcherQueue",
          actions: [...NODE_QUEUE_ACTIONS],
          resources: [ownQueue],
        }),
      ],
    });
    const reason =
      "The API serves its routes by path: GET on every read path, the watcher routes under /v1/watchers " +
      "naming the node; execute-api:Invoke covers only those paths of this API (any stage), and the API " +
      "function binds the watcher routes to the caller's role session. The queue grant is not a wildcard: " +
      `it names one queue through the caller's ${NODE_QUEUE_TAG} principal tag (queues are created at run time).`;
    for (const path of ["*/GET/*", "*/POST/v1/watchers", "*/*/v1/watchers/*"])
      Validations.of(this.nodeAgentPolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${path}]`,
        reason,
      });

    this.bridgePolicy = new ManagedPolicy(this, "BridgePolicy", {
      description: "sliceline bridge: send watch events to the ingest queues",
      statements: [
        new PolicyStatement({
          sid: "SendToIngestQueues",
          actions: [...BRIDGE_QUEUE_ACTIONS],
          resources: props.ingestQueues.map((queue) => queue.queueArn),
        }),
      ],
    });
  }
}
