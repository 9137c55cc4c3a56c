/**
 * Where watch events come in: the ingest queue (batched), the priority queue (system-critical
 * namespaces, consumed without a batching window), and the dead-letter queue both redrive to after
 * `maxReceiveCount` receives. The ingest function also sends poison events to the dead-letter queue
 * itself, with their reason, so a malformed event never blocks its batch.
 */
import { Duration } from "aws-cdk-lib";
import { type CfnQueue, Queue, QueueEncryption, type QueueProps } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { QUEUE_RETENTION_DAYS } from "#shared/config/queue-retention.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";

export interface IngestQueuesProps {
  readonly maxReceiveCount: number;
  /** The consuming function's timeout; the visibility timeout is six times it (AWS' advice). */
  readonly consumerTimeoutSeconds: number;
}

/** SQS-managed encryption and TLS-only access, for every queue of the stack. */
export const QUEUE_DEFAULTS = {
  encryption: QueueEncryption.SQS_MANAGED,
  enforceSSL: true,
} as const;

/** A queue whose CloudFormation logical id is exactly `logicalId` (the local runner looks it up). */
export function namedQueue(scope: Construct, logicalId: string, props: QueueProps): Queue {
  const queue = new Queue(scope, logicalId, { ...QUEUE_DEFAULTS, ...props });
  (queue.node.defaultChild as CfnQueue).overrideLogicalId(logicalId);
  return queue;
}

export class IngestQueues extends Construct {
  readonly deadLetterQueue: Queue;
  readonly ingestQueue: Queue;
  readonly priorityQueue: Queue;

  constructor(scope: Construct, id: string, props: IngestQueuesProps) {
    super(scope, id);
    // Retentions come from one place: the core's tombstones are derived from them.
    this.deadLetterQueue = namedQueue(this, LOGICAL_IDS.deadLetterQueue, {
      retentionPeriod: Duration.days(QUEUE_RETENTION_DAYS.deadLetter),
    });
    const common = {
      visibilityTimeout: Duration.seconds(props.consumerTimeoutSeconds * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    };
    this.ingestQueue = namedQueue(this, LOGICAL_IDS.ingestQueue, {
      ...common,
      retentionPeriod: Duration.days(QUEUE_RETENTION_DAYS.ingest),
    });
    this.priorityQueue = namedQueue(this, LOGICAL_IDS.priorityIngestQueue, {
      ...common,
      retentionPeriod: Duration.days(QUEUE_RETENTION_DAYS.priorityIngest),
    });
  }
}
