/**
 * The Kubernetes way of delivering a write: the API server sends it to every watcher of its kind,
 * through its watch fan-out. Shared by every strategy that runs on the API server.
 */
import type { ReplayBatch } from "#scripts/bench/model/core-replay.ts";
import {
  ApiServerFanout,
  type FleetTally,
  RelistSchedule,
  type Snapshot,
} from "#scripts/bench/model/strategy-run.ts";
import type { Trace } from "#scripts/bench/types.ts";

export class Broadcaster {
  readonly #tally: FleetTally;
  readonly #watchers: number;
  readonly #fanout = new ApiServerFanout();
  readonly #relists: RelistSchedule;

  constructor(trace: Trace, tally: FleetTally) {
    this.#tally = tally;
    this.#watchers = trace.scenario.watchers;
    this.#relists = new RelistSchedule(trace);
  }

  /** One object write at `atMs` whose earliest change happened at `changedAtMs`. */
  write(atMs: number, bytes: number, changedAtMs = atMs): void {
    this.#tally.objectWrites++;
    this.#tally.broadcast(atMs, 1, bytes);
    this.#tally.latencies.push(atMs - changedAtMs + this.#fanout.push(atMs, this.#watchers));
  }

  /** Restarted watchers whose re-list is due by this batch list the state as it stands. */
  relistsDue(batch: ReplayBatch, snapshot: Snapshot): void {
    if (batch.measured) this.#relists.runDue(batch.atMs, this.#tally, this.#watchers, snapshot);
  }

  finish(snapshot: Snapshot): void {
    this.#relists.runDue(Number.POSITIVE_INFINITY, this.#tally, this.#watchers, snapshot);
  }
}
