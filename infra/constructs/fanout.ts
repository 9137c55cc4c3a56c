/**
 * Fan-out: the slices table's stream drives one function that publishes every slice change to the
 * change topics of its scopes. In order per slice (one partition key stays in one shard, and
 * parallelization keeps per-key order); a failing batch is bisected to isolate the bad record,
 * retried a bounded number of times, dropped when older than the maximum record age, and then
 * described on the fan-out failure queue instead of blocking the shard.
 */

import { Duration, Validations } from "aws-cdk-lib";
import { StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq } from "aws-cdk-lib/aws-lambda-event-sources";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { ChangeTopics } from "#infra/constructs/change-topics.ts";
import { namedQueue } from "#infra/constructs/ingest-queues.ts";
import { PipelineFunction } from "#infra/constructs/pipeline-function.ts";
import type { SlicelineTables } from "#infra/constructs/tables.ts";
import type { Settings } from "#infra/settings.ts";
import { grantTableTo, grantTopicsPublishTo } from "#infra/wiring.ts";
import { ENV, LOGICAL_IDS } from "#shared/config/resources.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";

export interface FanoutProps {
  readonly tables: SlicelineTables;
  readonly topics: ChangeTopics;
  readonly settings: Settings;
}

export class Fanout extends Construct {
  readonly handler: PipelineFunction;
  /** Where the stream event source describes batches it gave up on (shard, sequence numbers). */
  readonly failureQueue: Queue;

  constructor(scope: Construct, id: string, props: FanoutProps) {
    super(scope, id);
    const { tables, topics, settings } = props;
    this.failureQueue = namedQueue(this, LOGICAL_IDS.fanoutFailureQueue, {
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failureQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself a dead-letter destination: the on-failure destination of the slices-table " +
        "stream event source (cdk-nag only recognizes queue redrive targets). Nothing consumes it; " +
        "the FanoutFailureQueueDepth alarm notifies the alarm topic when it holds a message.",
    });

    this.handler = new PipelineFunction(this, "Handler", {
      logicalId: LOGICAL_IDS.fanoutFunction,
      entry: "functions/fanout/handler.ts",
      description: "sliceline fan-out: slice changes from the table stream to the change topics",
      serviceName: SERVICE_NAMES.fanout,
      memoryMb: settings.fanoutMemoryMb,
      timeoutSeconds: settings.fanoutTimeoutSeconds,
      settings,
      otherStarResourceGrants:
        "dynamodb:ListStreams, which CDK's DynamoEventSource grants on '*' (an account-level listing " +
        "call, granted on '*' by AWSLambdaDynamoDBExecutionRole too); stream reads are scoped to the " +
        "slices table's stream ARN",
    });
    const fn = this.handler.function;

    // The stream images carry everything it publishes: no table reads beyond the stream.
    grantTopicsPublishTo(fn, topics.byScope);
    // UpdateItem: its per-minute counters for /v1/stats (one ADD per invocation); BatchWriteItem:
    // the change log the Kubernetes watch reads (docs/watch.md).
    grantTableTo(fn, tables.state, ["UpdateItem", "BatchWriteItem"]);
    fn.addEnvironment(ENV.fanoutFormat, settings.fanoutFormat);

    fn.addEventSource(
      new DynamoEventSource(tables.slices.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: settings.fanoutBatchSize,
        maxBatchingWindow: Duration.seconds(settings.fanoutBatchWindowSeconds),
        parallelizationFactor: settings.fanoutParallelization,
        bisectBatchOnError: true,
        retryAttempts: settings.fanoutRetryAttempts,
        maxRecordAge: Duration.seconds(settings.fanoutMaxRecordAgeSeconds),
        onFailure: new SqsDlq(this.failureQueue),
        reportBatchItemFailures: true,
      }),
    );
  }
}
