/**
 * The fleet simulator: N watcher agents (node agents) in one process, with zones, joins, leaves and
 * mass restarts. Every agent keeps one long poll open on its own queue, as a node agent does in
 * AWS; at 1,000 agents that is 1,000 concurrent connections, idle until a change arrives.
 *
 * A restart is the thundering herd of the seeds: agents lose their state and re-register and
 * re-list at once. Each waits a full-jitter exponential backoff (AWS's recommended scheme:
 * sleep = random(0, min(cap, base * 2^attempt))) before a try, so the re-lists spread out instead
 * of arriving together, and a failed try backs off further.
 */
import { setTimeout as sleep } from "node:timers/promises";

export interface FleetMember {
  readonly node: string;
  readonly zone: string | undefined;
  /** Register the channel (subscribe first, so nothing between list and watch is lost). */
  register(): Promise<void>;
  /** List a snapshot of everything watched. */
  list(): Promise<void>;
  /** One receive on the channel; resolves with the number of messages handled. */
  pollOnce(waitSeconds: number): Promise<number>;
  deregister(): Promise<void>;
  /** Lose all state, as a crashed agent does. */
  forget(): void;
}

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
  /** Give up after this many failed tries (the member stays down and is reported). */
  readonly maxAttempts: number;
}

export interface RestartReport {
  readonly restarted: number;
  readonly recovered: number;
  readonly failedAttempts: number;
  /** From the restart until the member listed again (ms). */
  readonly recoveryMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Every recovery (ms), ascending: shards of one fleet merge their reports from these. */
  readonly recoveriesMs: readonly number[];
}

export interface FleetOptions {
  /** Registrations / lists in flight at once when the fleet joins. */
  readonly joinConcurrency: number;
  readonly waitSeconds: number;
  readonly random?: () => number;
  readonly onJoined?: (joined: number) => void;
}

interface Slot {
  readonly member: FleetMember;
  /** Bumped on restart or leave: a poll loop of an older generation stops. */
  generation: number;
  polling: Promise<void> | undefined;
  up: boolean;
  pollErrors: number;
}

export class WatcherFleet {
  readonly #slots: Slot[] = [];
  readonly #options: FleetOptions;
  readonly #random: () => number;
  #stopped = false;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  get members(): FleetMember[] {
    return this.#slots.filter((slot) => slot.up).map((slot) => slot.member);
  }

  get pollErrors(): number {
    return this.#slots.reduce((sum, slot) => sum + slot.pollErrors, 0);
  }

  /** Registers and lists `members` with bounded concurrency, then starts their polls. */
  async join(members: readonly FleetMember[]): Promise<void> {
    let joined = 0;
    await forEachLimited(members, this.#options.joinConcurrency, async (member) => {
      await member.register();
      await member.list();
      const slot: Slot = { member, generation: 0, polling: undefined, up: true, pollErrors: 0 };
      this.#slots.push(slot);
      this.#startPolling(slot);
      joined++;
      this.#options.onJoined?.(joined);
    });
  }

  /** Deregisters `count` members (nodes leaving the cluster). */
  async leave(count: number): Promise<FleetMember[]> {
    const leaving = this.#slots.filter((slot) => slot.up).slice(-count);
    for (const slot of leaving) {
      slot.up = false;
      slot.generation++;
    }
    await Promise.all(leaving.map((slot) => slot.polling));
    await forEachLimited(leaving, this.#options.joinConcurrency, (slot) => slot.member.deregister());
    for (const slot of leaving) this.#slots.splice(this.#slots.indexOf(slot), 1);
    return leaving.map((slot) => slot.member);
  }

  /**
   * Crashes a fraction of the fleet at once: state lost, channel kept (as when agents restart on
   * their nodes), then each re-registers and re-lists after a jittered backoff.
   */
  async restart(fraction: number, backoff: BackoffPolicy): Promise<RestartReport> {
    const up = this.#slots.filter((slot) => slot.up);
    const chosen = up.slice(0, Math.round(up.length * fraction));
    const startedAt = Date.now();
    for (const slot of chosen) {
      slot.generation++;
      slot.member.forget();
    }
    let failedAttempts = 0;
    const recoveries: number[] = [];
    await Promise.all(
      chosen.map(async (slot) => {
        for (let attempt = 0; attempt < backoff.maxAttempts; attempt++) {
          await sleep(this.#random() * Math.min(backoff.capMs, backoff.baseMs * 2 ** attempt));
          if (this.#stopped) return;
          try {
            await slot.member.register();
            await slot.member.list();
            recoveries.push(Date.now() - startedAt);
            this.#startPolling(slot);
            return;
          } catch {
            failedAttempts++;
          }
        }
        slot.up = false;
      }),
    );
    return restartReport(chosen.length, failedAttempts, recoveries);
  }

  /** Stops every poll loop; open long polls finish within waitSeconds. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const slot of this.#slots) slot.generation++;
    await Promise.all(this.#slots.map((slot) => slot.polling));
  }

  #startPolling(slot: Slot): void {
    const generation = slot.generation;
    const previous = slot.polling ?? Promise.resolve();
    slot.polling = previous.then(async () => {
      while (!this.#stopped && slot.generation === generation) {
        try {
          await slot.member.pollOnce(this.#options.waitSeconds);
        } catch {
          slot.pollErrors++;
          await sleep(200);
        }
      }
    });
  }
}

export function restartReport(
  restarted: number,
  failedAttempts: number,
  recoveries: readonly number[],
): RestartReport {
  const sorted = [...recoveries].sort((a, b) => a - b);
  return {
    restarted,
    recovered: sorted.length,
    failedAttempts,
    recoveryMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0 },
    recoveriesMs: sorted,
  };
}

/** One report for a fleet split in shards, as if it had restarted as one. */
export function mergeRestartReports(reports: readonly RestartReport[]): RestartReport {
  return restartReport(
    reports.reduce((sum, report) => sum + report.restarted, 0),
    reports.reduce((sum, report) => sum + report.failedAttempts, 0),
    reports.flatMap((report) => report.recoveriesMs),
  );
}

export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
