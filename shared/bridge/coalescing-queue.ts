/**
 * The bridge's buffer between the watch streams and SQS: bounded, and keyed by object, so a slow
 * or failing SQS costs at most one entry per object however fast that object changes. The
 * pipeline only needs each object's latest state (ingest orders by resourceVersion and keeps
 * tombstones), so a newer event for a queued object replaces the queued one in place: it keeps
 * the older one's place in line and its earlier source time.
 *
 * When the bound is reached an event for a new object is refused: the caller must then re-list
 * that kind once the queue has room, and the resync restores what was refused. Taken events
 * count against the bound until the taker settles them (sent, or put back), so what the bridge
 * holds in all (queued and in flight) never exceeds it.
 */
import { compareResourceVersions } from "#shared/core/object-versions.ts";

export interface QueuedEvent {
  /** Identity for coalescing: the object ("Pod/ns/name") or the resync chunk ("SYNC/Pod/ns/from"). */
  readonly key: string;
  /** Which SQS queue it goes to. */
  readonly route: "ingest" | "priority";
  readonly resourceVersion: string;
  /** The event as sent, serialized once. */
  readonly json: string;
  /** When the change was seen at the source (the earliest of the events it replaced). */
  readonly sourceTimeMs: number;
  /** When it entered the queue, for the lag metric. */
  readonly queuedAtMs: number;
}

export type OfferOutcome = "queued" | "coalesced" | "stale" | "refused";

export interface CoalescingQueueOptions {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

export class CoalescingQueue {
  readonly #options: CoalescingQueueOptions;
  /** Map order is the send order: replacing a value keeps its key's position. */
  readonly #entries = new Map<string, QueuedEvent>();
  #bytes = 0;
  /** Events taken and not yet settled, and their bytes. */
  #takenEvents = 0;
  #takenBytes = 0;
  #waiters: Array<() => void> = [];

  constructor(options: CoalescingQueueOptions) {
    this.#options = options;
  }

  /** Events queued or taken and not yet settled. */
  get size(): number {
    return this.#entries.size + this.#takenEvents;
  }

  get bytes(): number {
    return this.#bytes + this.#takenBytes;
  }

  /** Queued time of the entry first in line (undefined when empty). */
  get oldestQueuedAtMs(): number | undefined {
    for (const entry of this.#entries.values()) return entry.queuedAtMs;
    return undefined;
  }

  get hasRoom(): boolean {
    return this.size < this.#options.maxEvents && this.bytes < this.#options.maxBytes;
  }

  offer(event: QueuedEvent): OfferOutcome {
    const queued = this.#entries.get(event.key);
    if (queued !== undefined) {
      if (compareResourceVersions(event.resourceVersion, queued.resourceVersion) < 0) return "stale";
      this.#entries.set(event.key, {
        ...event,
        sourceTimeMs: Math.min(event.sourceTimeMs, queued.sourceTimeMs),
        queuedAtMs: queued.queuedAtMs,
      });
      this.#bytes += event.json.length - queued.json.length;
      return "coalesced";
    }
    if (!this.hasRoom) return "refused";
    this.#entries.set(event.key, event);
    this.#bytes += event.json.length;
    this.#wake();
    return "queued";
  }

  /**
   * Puts back taken events whose send failed, unless a newer event of the same object came in
   * meanwhile, and settles them. Within the bound: they were counted in it when taken.
   */
  requeue(events: readonly QueuedEvent[]): void {
    this.settle(events);
    for (const event of events) {
      const queued = this.#entries.get(event.key);
      if (queued !== undefined) {
        if (compareResourceVersions(event.resourceVersion, queued.resourceVersion) <= 0) continue;
        this.#bytes -= queued.json.length;
      }
      this.#entries.set(event.key, event);
      this.#bytes += event.json.length;
    }
    if (events.length > 0) this.#wake();
  }

  /** Taken events that are done with (sent, dropped or put back): they leave the bound. */
  settle(events: readonly QueuedEvent[]): void {
    for (const event of events) {
      this.#takenEvents--;
      this.#takenBytes -= event.json.length;
    }
  }

  /** Takes up to `maxEvents` and about `maxBytes` from the head of the line; settle them later. */
  take(maxEvents: number, maxBytes: number): QueuedEvent[] {
    const taken: QueuedEvent[] = [];
    let bytes = 0;
    for (const [key, entry] of this.#entries) {
      if (taken.length >= maxEvents || (taken.length > 0 && bytes + entry.json.length > maxBytes)) break;
      taken.push(entry);
      bytes += entry.json.length;
      this.#entries.delete(key);
    }
    this.#bytes -= bytes;
    this.#takenEvents += taken.length;
    this.#takenBytes += bytes;
    return taken;
  }

  /** Resolves when something is queued (at once if something already is). */
  whenNotEmpty(): Promise<void> {
    if (this.#entries.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Wakes whoever waits, without anything queued (shutdown). */
  interrupt(): void {
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
