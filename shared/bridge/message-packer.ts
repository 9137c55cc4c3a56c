/**
 * Producer-side batching (docs/contract.md §1): events become `{"events":[...]}` bodies, bodies become
 * SendMessageBatch calls of at most 10 entries and SQS's payload limit (256 KiB for the whole
 * call, attributes included). Each body carries the `sourceTimeMs` attribute of its earliest
 * event, so ingest measures latency from the first change it holds.
 */
import type { QueuedEvent } from "./coalescing-queue.ts";

export const SQS_MAX_BATCH_ENTRIES = 10;
/** SQS's limit on one SendMessageBatch (and one message): 256 KiB. */
export const SQS_MAX_PAYLOAD_BYTES = 256 * 1024;
/** Room for the sourceTimeMs attribute (name, type, value) of an entry. */
const ATTRIBUTE_BYTES = 64;
const BODY_OVERHEAD_BYTES = '{"events":[]}'.length;

export interface PackedBody {
  readonly body: string;
  readonly sourceTimeMs: number;
  readonly events: readonly QueuedEvent[];
}

export interface PackedBatch {
  readonly route: QueuedEvent["route"];
  readonly bodies: readonly PackedBody[];
}

export interface PackOptions {
  /** Target size of one body; smaller bodies spread a batch over more messages (finer retries). */
  readonly maxBodyBytes: number;
  readonly maxBatchBytes?: number;
}

/** Events that cannot fit one message even alone (the bridge counts and drops them). */
export function isOversized(event: QueuedEvent): boolean {
  return Buffer.byteLength(event.json) + BODY_OVERHEAD_BYTES + ATTRIBUTE_BYTES > SQS_MAX_PAYLOAD_BYTES;
}

export function packBatches(events: readonly QueuedEvent[], options: PackOptions): PackedBatch[] {
  const maxBatchBytes = options.maxBatchBytes ?? SQS_MAX_PAYLOAD_BYTES;
  const maxBodyBytes = Math.min(options.maxBodyBytes, maxBatchBytes - ATTRIBUTE_BYTES);
  const batches: PackedBatch[] = [];
  for (const route of ["priority", "ingest"] as const) {
    const bodies = packBodies(
      events.filter((event) => event.route === route),
      maxBodyBytes,
    );
    let current: PackedBody[] = [];
    let currentBytes = 0;
    for (const body of bodies) {
      const bytes = Buffer.byteLength(body.body) + ATTRIBUTE_BYTES;
      if (
        current.length >= SQS_MAX_BATCH_ENTRIES ||
        (current.length > 0 && currentBytes + bytes > maxBatchBytes)
      ) {
        batches.push({ route, bodies: current });
        current = [];
        currentBytes = 0;
      }
      current.push(body);
      currentBytes += bytes;
    }
    if (current.length > 0) batches.push({ route, bodies: current });
  }
  return batches;
}

function packBodies(events: readonly QueuedEvent[], maxBodyBytes: number): PackedBody[] {
  const bodies: PackedBody[] = [];
  let current: QueuedEvent[] = [];
  let bytes = BODY_OVERHEAD_BYTES;
  const flush = (): void => {
    if (current.length === 0) return;
    bodies.push({
      body: `{"events":[${current.map((event) => event.json).join(",")}]}`,
      sourceTimeMs: Math.min(...current.map((event) => event.sourceTimeMs)),
      events: current,
    });
    current = [];
    bytes = BODY_OVERHEAD_BYTES;
  };
  for (const event of events) {
    const size = Buffer.byteLength(event.json) + 1;
    if (current.length > 0 && bytes + size > maxBodyBytes) flush();
    current.push(event);
    bytes += size;
  }
  flush();
  return bodies;
}
