/**
 * Ingest: the ingest and priority queues drive one function that turns batches of watch events into
 * slices and identities. The ingest queue is read in large batches with a batching window; the
 * priority queue (system-critical namespaces) with no window, so its events never wait. Partial
 * batch failures are reported per message, and a maximum concurrency per queue bounds how hard the
 * pipeline hits DynamoDB.
 */

import { Duration } from "aws-cdk-lib";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { Construct } from "constructs";
import type { IngestQueues } from "#infra/constructs/ingest-queues.ts";
import { PipelineFunction } from "#infra/constructs/pipeline-function.ts";
import type { SlicelineTables } from "#infra/constructs/tables.ts";
import type { Settings } from "#infra/settings.ts";
import { grantQueueSendTo, grantTableTo, PIPELINE_WRITER_ACCESS, setSetting } from "#infra/wiring.ts";
import { ENV, LOGICAL_IDS } from "#shared/config/resources.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";

export interface IngestProps {
  readonly queues: IngestQueues;
  readonly tables: SlicelineTables;
  readonly settings: Settings;
}

export class Ingest extends Construct {
  readonly handler: PipelineFunction;

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);
    const { queues, tables, settings } = props;
    this.handler = new PipelineFunction(this, "Handler", {
      logicalId: LOGICAL_IDS.ingestFunction,
      entry: "functions/ingest/handler.ts",
      description: "sliceline ingest: watch events from SQS into slices and identities",
      serviceName: SERVICE_NAMES.ingest,
      memoryMb: settings.ingestMemoryMb,
      timeoutSeconds: settings.ingestTimeoutSeconds,
      settings,
    });
    const fn = this.handler.function;

    // Scan: a resync (SYNC) of Namespaces or Nodes lists the names the state table knows.
    grantTableTo(fn, tables.state, [...PIPELINE_WRITER_ACCESS, "Scan"]);
    grantTableTo(fn, tables.slices, PIPELINE_WRITER_ACCESS);
    grantTableTo(fn, tables.identities, PIPELINE_WRITER_ACCESS);
    grantQueueSendTo(fn, queues.deadLetterQueue, ENV.deadLetterQueueUrl);
    setSetting(fn, ENV.slicingSettings, JSON.stringify(settings.slicing));
    if (settings.writeBudget !== undefined) {
      setSetting(fn, ENV.writeBudget, String(settings.writeBudget));
      // The budget scales with the number of registered watchers: a COUNT scan of the watchers table.
      grantTableTo(fn, tables.watchers, ["Scan"]);
    }

    fn.addEventSource(
      new SqsEventSource(queues.ingestQueue, {
        batchSize: settings.ingestBatchSize,
        maxBatchingWindow: Duration.seconds(settings.ingestBatchWindowSeconds),
        reportBatchItemFailures: true,
        maxConcurrency: settings.ingestMaxConcurrency,
      }),
    );
    fn.addEventSource(
      new SqsEventSource(queues.priorityQueue, {
        batchSize: settings.priorityBatchSize,
        maxBatchingWindow: Duration.seconds(0),
        reportBatchItemFailures: true,
        maxConcurrency: settings.priorityMaxConcurrency,
      }),
    );
  }
}
