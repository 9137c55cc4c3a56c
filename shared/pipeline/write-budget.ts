/**
 * The write-rate budget: how many slice writes per second the pipeline may make, from how many
 * watchers will receive each one. Every write is multiplied by the watcher count on the fan-out
 * side, so the bigger the audience the lower the rate, as Cilium's dynamic CES rate limit does
 * (ces-rate-limits: 10/s up to 100 nodes, 7/s up to 500, 5/s beyond, with bursts of twice that).
 *
 * Writes a batch cannot make within the budget are not dropped: the batch waits for the next
 * window, and if the wait would be too long its messages are retried later, when SQS hands them
 * back together with newer changes that the next reconcile coalesces into the same slice writes.
 * A single commit too large to ever fit is admitted in debt once the bucket is clear (see admit),
 * so no commit is refused for ever.
 */

export interface RateStep {
  /** From this many watchers on... */
  readonly watchers: number;
  /** ...this many slice writes per second, */
  readonly writesPerSecond: number;
  /** ...with bursts up to this many in one second. */
  readonly burst: number;
}

export const DEFAULT_RATE_STEPS: readonly RateStep[] = [
  { watchers: 0, writesPerSecond: 10, burst: 20 },
  { watchers: 100, writesPerSecond: 7, burst: 15 },
  { watchers: 500, writesPerSecond: 5, burst: 10 },
];

export class InvalidRateStepsError extends Error {
  override name = "InvalidRateStepsError";
}

export function validateRateSteps(steps: readonly RateStep[]): readonly RateStep[] {
  if (steps.length === 0 || steps[0]?.watchers !== 0) {
    throw new InvalidRateStepsError("rate steps must start at 0 watchers");
  }
  steps.forEach((step, i) => {
    if (!(step.writesPerSecond > 0) || !(step.burst >= step.writesPerSecond)) {
      throw new InvalidRateStepsError(`step ${i}: need writesPerSecond > 0 and burst >= writesPerSecond`);
    }
    const previous = steps[i - 1];
    if (previous !== undefined && step.watchers <= previous.watchers) {
      throw new InvalidRateStepsError(`step ${i}: watcher thresholds must increase`);
    }
  });
  return steps;
}

/** The step that applies to this many watchers. */
export function rateFor(watchers: number, steps: readonly RateStep[] = DEFAULT_RATE_STEPS): RateStep {
  let chosen = steps[0] as RateStep;
  for (const step of steps) if (watchers >= step.watchers) chosen = step;
  return chosen;
}

/**
 * A token bucket: `take(n, nowMs)` says how long to wait before n writes fit. Refills at the rate,
 * holds at most the burst. The caller waits (or gives the batch back) and then commits.
 */
export class TokenBucket {
  #tokens: number;
  #updatedMs: number;
  #step: RateStep;

  constructor(step: RateStep, nowMs: number) {
    this.#step = step;
    this.#tokens = step.burst;
    this.#updatedMs = nowMs;
  }

  /** Follows the watcher count: a new step applies from now on. */
  setStep(step: RateStep): void {
    this.#step = step;
    this.#tokens = Math.min(this.#tokens, step.burst);
  }

  /** Takes n tokens (going into debt if needed) and returns the wait until the debt is paid, in ms. */
  take(n: number, nowMs: number): number {
    this.#refill(nowMs);
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#step.writesPerSecond) * 1000);
  }

  #refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.#updatedMs) / 1000;
    this.#tokens = Math.min(this.#step.burst, this.#tokens + elapsed * this.#step.writesPerSecond);
    this.#updatedMs = nowMs;
  }
}

export class WriteBudgetExceededError extends Error {
  override name = "WriteBudgetExceededError";
}

/** What the engine asks before each commit: may these writes go now? Resolves when they may. */
export interface WriteGate {
  admit(writes: number): Promise<void>;
}

export interface BudgetedWriteGateOptions {
  readonly steps?: readonly RateStep[];
  /** The number of watchers each write reaches (refreshed by the caller as watchers come and go). */
  readonly watchers: () => number;
  /** Longer than this, and the commit is given back to the queue instead of waiting. */
  readonly maxWaitMs: number;
  readonly nowMs?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * The budget of one ingest instance. Instances share nothing, so the pipeline-wide bound is the
 * per-instance rate times the ingest function's maximum concurrency: the stack sets that to a
 * small number and divides the configured budget by it.
 */
export class BudgetedWriteGate implements WriteGate {
  readonly #steps: readonly RateStep[];
  readonly #watchers: () => number;
  readonly #maxWaitMs: number;
  readonly #nowMs: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #bucket: TokenBucket;

  constructor(options: BudgetedWriteGateOptions) {
    this.#steps = validateRateSteps(options.steps ?? DEFAULT_RATE_STEPS);
    this.#watchers = options.watchers;
    this.#maxWaitMs = options.maxWaitMs;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#bucket = new TokenBucket(rateFor(this.#watchers(), this.#steps), this.#nowMs());
  }

  async admit(writes: number): Promise<void> {
    if (writes === 0) return;
    const step = rateFor(this.#watchers(), this.#steps);
    this.#bucket.setStep(step);
    const nowMs = this.#nowMs();
    const waitMs = this.#bucket.take(writes, nowMs);
    if (waitMs <= this.#maxWaitMs) {
      if (waitMs > 0) await this.#sleep(waitMs);
      return;
    }
    this.#bucket.take(-writes, nowMs);
    // A commit is atomic (one namespace group), so one larger than the most the bucket can yield
    // within the wait would be refused for ever. It goes as soon as the bucket is out of debt,
    // taking it deep into debt: the commits after it wait (or are handed back) until that debt is
    // paid, so the average rate holds and only its burst is exceeded, once.
    const mostWithinWait = step.burst + (step.writesPerSecond * this.#maxWaitMs) / 1000;
    if (writes > mostWithinWait) {
      const outOfDebtMs = this.#bucket.take(0, nowMs);
      if (outOfDebtMs <= this.#maxWaitMs) {
        this.#bucket.take(writes, nowMs);
        if (outOfDebtMs > 0) await this.#sleep(outOfDebtMs);
        return;
      }
    }
    throw new WriteBudgetExceededError(
      `${writes} slice writes would wait ${waitMs} ms for the write budget (limit ${this.#maxWaitMs} ms)`,
    );
  }
}

/** Cilium's steps scaled to a configured base rate (writes per second with few watchers). */
export function rateStepsFor(baseWritesPerSecond: number): readonly RateStep[] {
  return validateRateSteps(
    DEFAULT_RATE_STEPS.map((step) => ({
      watchers: step.watchers,
      writesPerSecond: (step.writesPerSecond / 10) * baseWritesPerSecond,
      burst: (step.burst / 10) * baseWritesPerSecond,
    })),
  );
}
