/**
 * Tombstones must outlive every message that can replay an event into ingest, or a late duplicate
 * ADDED resurrects a deleted pod. Read from the synthesized template, not from the constants: the
 * queues that trigger the ingest function, the dead-letter queues they redrive to and the one the
 * function itself sends poison to, against the tombstone retention the function is configured with.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Template } from "aws-cdk-lib/assertions";
import { slicingSettingsFromEnvironment } from "#functions/commons/environment.ts";
import { ENV, LOGICAL_IDS } from "#shared/config/resources.ts";
import { synthApp } from "#test/infra/synth.ts";
import { environmentOf, ofType, render, resourcesOf } from "#test/infra/template.ts";

/** SQS keeps a message 4 days when MessageRetentionPeriod is not set. */
const SQS_DEFAULT_RETENTION_SECONDS = 4 * 24 * 3600;

describe("tombstone retention against queue retention", () => {
  const resources = resourcesOf(Template.fromStack(synthApp().stack));
  const retentionSeconds = (queueId: string): number => {
    const queue = resources[queueId];
    assert.equal(queue?.Type, "AWS::SQS::Queue", `${queueId} is a queue`);
    return Number(queue?.Properties?.MessageRetentionPeriod ?? SQS_DEFAULT_RETENTION_SECONDS);
  };
  /** "${IngestQueue.Arn}" or "${IngestQueue}" -> "IngestQueue" */
  const queueIdOf = (value: unknown): string => (render(value).match(/^\$\{([^.}]+)/)?.[1] ?? "") as string;

  const feeding = ofType(resources, "AWS::Lambda::EventSourceMapping")
    .filter(([, mapping]) => render(mapping.Properties?.FunctionName).includes(LOGICAL_IDS.ingestFunction))
    .map(([, mapping]) => queueIdOf(mapping.Properties?.EventSourceArn));
  const environment = environmentOf(resources, LOGICAL_IDS.ingestFunction);
  const deadLetterQueues = new Set([
    queueIdOf(environment[ENV.deadLetterQueueUrl]),
    ...feeding.map((id) =>
      queueIdOf(
        (resources[id]?.Properties?.RedrivePolicy as { deadLetterTargetArn?: unknown })?.deadLetterTargetArn,
      ),
    ),
  ]);

  it("finds the queues that feed ingest and their dead-letter queue", () => {
    assert.deepEqual([...feeding].sort(), [LOGICAL_IDS.ingestQueue, LOGICAL_IDS.priorityIngestQueue].sort());
    assert.deepEqual([...deadLetterQueues], [LOGICAL_IDS.deadLetterQueue]);
  });

  it("keeps tombstones longer than an event can take through an ingest queue, the DLQ and a redrive", () => {
    const ingestSeconds = Math.max(...feeding.map(retentionSeconds));
    const deadLetterSeconds = Math.max(...[...deadLetterQueues].map(retentionSeconds));
    const replaySeconds = ingestSeconds + deadLetterSeconds + ingestSeconds;
    const settings = slicingSettingsFromEnvironment({
      [ENV.slicingSettings]: environment[ENV.slicingSettings] as string | undefined,
    });
    assert.ok(
      settings.tombstoneRetentionMs > replaySeconds * 1000,
      `tombstones last ${settings.tombstoneRetentionMs / 3.6e6} h, an event can be replayed for ${replaySeconds / 3600} h`,
    );
  });
});
