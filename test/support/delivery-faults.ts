/**
 * Seeded delivery faults of the emulated event sources: SQS batches handed over in a shuffled
 * order and some delivered again a little later (standard queues are unordered, at least once);
 * some stream batches delivered twice in a row (a retried invocation; per-shard order is kept).
 */
import type { SqsDeliveryFaults } from "#scripts/local/sqs-event-source.ts";
import type { StreamDeliveryFaults } from "#scripts/local/stream-event-source.ts";
import type { SeededRandom } from "#test/support/seeded-random.ts";

export interface DeliveryFaultCounts {
  sqsShuffledBatches: number;
  sqsRedeliveries: number;
  streamRedeliveries: number;
}

export class SeededDeliveryFaults {
  readonly counts: DeliveryFaultCounts = { sqsShuffledBatches: 0, sqsRedeliveries: 0, streamRedeliveries: 0 };
  readonly sqs: SqsDeliveryFaults;
  readonly stream: StreamDeliveryFaults;
  enabled = true;
  #sqsRandom: SeededRandom;
  #streamRandom: SeededRandom;

  /** `rate`: the fraction of batches delivered twice; every SQS batch of two or more is shuffled. */
  constructor(random: SeededRandom, rate: number, maxRedeliveryDelayMs = 3_000) {
    this.#sqsRandom = random.fork("sqs-delivery");
    this.#streamRandom = random.fork("stream-delivery");
    this.sqs = {
      order: (count) => {
        if (!this.enabled || count < 2) return Array.from({ length: count }, (_, i) => i);
        this.counts.sqsShuffledBatches++;
        return this.#sqsRandom.permutation(count);
      },
      redeliveryDelayMs: () => {
        if (!this.enabled || this.#sqsRandom.next() >= rate) return undefined;
        this.counts.sqsRedeliveries++;
        return this.#sqsRandom.integer(0, maxRedeliveryDelayMs);
      },
    };
    this.stream = {
      redeliver: () => {
        if (!this.enabled || this.#streamRandom.next() >= rate) return false;
        this.counts.streamRedeliveries++;
        return true;
      },
    };
  }

  /** The next run's decisions, from its seed. */
  reseed(random: SeededRandom): void {
    this.#sqsRandom = random.fork("sqs-delivery");
    this.#streamRandom = random.fork("stream-delivery");
  }
}
