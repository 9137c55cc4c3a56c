/**
 * Sends writes concurrently (up to a bound) while keeping each key's writes in submission order:
 * a delete must not overtake the put it follows, yet one slow key must not stall the others.
 */
import type { KvOp } from "./cilium-kvstore.ts";

export type SendOp = (op: KvOp, dueAt: number) => Promise<number>;

export class KeyOrderedWriter {
  readonly #maxInFlight: number;
  readonly #send: SendOp;
  readonly #tails = new Map<string, Promise<void>>();
  readonly #waiting: Array<() => void> = [];
  readonly #all = new Set<Promise<void>>();
  #inFlight = 0;
  #failure: unknown;

  constructor(maxInFlight: number, send: SendOp) {
    this.#maxInFlight = maxInFlight;
    this.#send = send;
  }

  submit(op: KvOp, dueAt: number): void {
    const previous = this.#tails.get(op.key) ?? Promise.resolve();
    const done = previous.then(() => this.#run(op, dueAt));
    this.#tails.set(op.key, done);
    this.#all.add(done);
    void done.finally(() => {
      this.#all.delete(done);
      if (this.#tails.get(op.key) === done) this.#tails.delete(op.key);
    });
  }

  /** Resolves once every submitted write is acknowledged; rejects with the first failure. */
  async finished(): Promise<void> {
    while (this.#all.size > 0) await Promise.all(this.#all);
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #run(op: KvOp, dueAt: number): Promise<void> {
    if (this.#inFlight >= this.#maxInFlight)
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#inFlight++;
    try {
      await this.#send(op, dueAt);
    } catch (error) {
      this.#failure ??= error;
    } finally {
      this.#inFlight--;
      this.#waiting.shift()?.();
    }
  }
}
