/**
 * What the live pass counts of the fan-out's invocations: invocations and their time (Lambda bills
 * every one, retries included), and the stream records they carried, each record once. A batch the
 * stream event source retries (the handler threw, or reported a failed item) comes again with the
 * records already seen; they were written to DynamoDB once, so they are one object write each.
 */
import type { DynamoDBStreamEvent } from "aws-lambda";

export class FanoutTally {
  invocations = 0;
  ms = 0;
  /** Invocations whose records had all been delivered before (a retried batch). */
  retriedInvocations = 0;
  readonly #seen = new Set<string>();

  /** One invocation: its event and how long it ran. */
  add(event: DynamoDBStreamEvent | undefined, elapsedMs: number): void {
    this.invocations++;
    this.ms += elapsedMs;
    let fresh = 0;
    for (const record of event?.Records ?? []) {
      const sequence = record.dynamodb?.SequenceNumber;
      // Sequence numbers are unique within a stream's shard; the stream names the table.
      const id = sequence === undefined ? record.eventID : `${record.eventSourceARN ?? ""}#${sequence}`;
      if (id === undefined || this.#seen.has(id)) continue;
      this.#seen.add(id);
      fresh++;
    }
    if (fresh === 0 && (event?.Records?.length ?? 0) > 0) this.retriedInvocations++;
  }

  /** Distinct stream records delivered: the object writes the fan-out saw. */
  get records(): number {
    return this.#seen.size;
  }
}
