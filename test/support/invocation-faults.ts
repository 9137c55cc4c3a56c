/**
 * What a Lambda invocation's failures look like, for handlers run in-process by the local runner
 * (its wrapHandler hook):
 *   - every HTTP call an invocation makes is tagged with CALLER_HEADER (the function's logical id),
 *     so the fault proxies fault the system under test and not the harness;
 *   - a seeded fraction of invocations crash at a random point: before the handler runs, just
 *     before its k-th AWS call, just after its k-th answer, or after it returned (the work done,
 *     the answer lost). The invocation fails as a whole, as when a Lambda runtime dies, and the
 *     event source retries it;
 *   - the function's timeout (the context's remaining time, from the template's Timeout) ends an
 *     invocation that has not answered, as Lambda does (the handlers' middy ends them a few ms
 *     before, with a TimeoutError; this is the backstop): a call the proxy never answers would
 *     otherwise hang it for ever (the handlers set no SDK request timeout, so in AWS such a call
 *     also costs a whole function timeout).
 * A dead invocation is frozen: its calls in flight are aborted and any call it tries later fails at
 * once, so nothing it does after its death reaches a backend (a crashed Lambda sandbox is gone).
 *
 * Calls are seen through Node's http diagnostics channels, inside the invocation's
 * AsyncLocalStorage context (the SDK creates its requests in the caller's async context).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";
import type { Context } from "aws-lambda";
import { CALLER_HEADER } from "#scripts/local/fault-proxy.ts";
import type { SeededRandom } from "#test/support/seeded-random.ts";

export class InvocationCrashError extends Error {
  override name = "InvocationCrashError";
}

export class InvocationTimeoutError extends Error {
  override name = "InvocationTimeoutError";
}

export const CRASH_POINTS = ["start", "beforeCall", "afterCall", "end"] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface InvocationFaultCounts {
  invocations: number;
  crashes: Record<CrashPoint, number>;
  timeouts: number;
}

interface CrashPlan {
  readonly point: CrashPoint;
  /** For beforeCall / afterCall: the k-th call (1-based). */
  readonly call: number;
}

interface Invocation {
  readonly functionId: string;
  readonly plan: CrashPlan | undefined;
  readonly inFlight: Set<ClientRequest>;
  calls: number;
  answers: number;
  dead: Error | undefined;
  kill(error: Error): void;
}

const CREATED = "http.client.request.created";
const FINISHED = "http.client.response.finish";

export interface InvocationFaultsOptions {
  readonly random: SeededRandom;
  /** Fraction of invocations of `functions` that crash. */
  readonly crashRate: number;
  /** Logical ids whose invocations may crash (all wrapped functions have their calls tagged). */
  readonly functions: ReadonlySet<string>;
  /** A crash before or after a call picks the call among the first `maxCall` (default 6). */
  readonly maxCall?: number;
}

export class InvocationFaults {
  readonly counts: InvocationFaultCounts = {
    invocations: 0,
    crashes: { start: 0, beforeCall: 0, afterCall: 0, end: 0 },
    timeouts: 0,
  };
  enabled = true;
  readonly #options: InvocationFaultsOptions;
  #random: SeededRandom;
  readonly #context = new AsyncLocalStorage<Invocation>();
  readonly #invocationOf = new WeakMap<ClientRequest, Invocation>();
  readonly #onCreated = (message: unknown) => this.#created((message as { request: ClientRequest }).request);
  readonly #onFinished = (message: unknown) =>
    this.#finished((message as { request: ClientRequest }).request);

  constructor(options: InvocationFaultsOptions) {
    this.#options = options;
    this.#random = options.random.fork("invocation-crashes");
    subscribe(CREATED, this.#onCreated);
    subscribe(FINISHED, this.#onFinished);
  }

  /** The next run's decisions, from its seed. */
  reseed(random: SeededRandom): void {
    this.#random = random.fork("invocation-crashes");
  }

  dispose(): void {
    unsubscribe(CREATED, this.#onCreated);
    unsubscribe(FINISHED, this.#onFinished);
  }

  /** The runner's wrapHandler: tags calls, crashes seeded invocations, enforces the function timeout. */
  wrap = (functionId: string, handler: (...args: never[]) => Promise<unknown>): unknown => {
    return async (event: unknown, context: Context) => {
      const plan = this.#plan(functionId);
      if (plan?.point === "start") {
        this.counts.crashes.start++;
        throw new InvocationCrashError(`${functionId}: crashed before the handler ran`);
      }
      let killed: (error: Error) => void = () => {};
      const death = new Promise<never>((_, reject) => {
        killed = reject;
      });
      const invocation: Invocation = {
        functionId,
        plan,
        inFlight: new Set(),
        calls: 0,
        answers: 0,
        dead: undefined,
        kill(error) {
          if (this.dead !== undefined) return;
          this.dead = error;
          for (const request of this.inFlight) request.destroy(error);
          killed(error);
        },
      };
      const timer = setTimeout(() => {
        this.counts.timeouts++;
        invocation.kill(new InvocationTimeoutError(`${functionId}: timed out`));
      }, context.getRemainingTimeInMillis());
      try {
        const work = this.#context.run(invocation, () =>
          (handler as (event: unknown, context: Context) => Promise<unknown>)(event, context),
        );
        work.catch(() => {}); // a dead invocation's own failure is nobody's business
        let result: unknown;
        try {
          result = await Promise.race([work, death]);
        } catch (error) {
          // middy ends the handler just before the function's timeout (TimeoutError); Lambda then
          // kills the sandbox. Any failed invocation is frozen likewise: what it left running stops.
          if (invocation.dead === undefined && (error as Error).name === "TimeoutError")
            this.counts.timeouts++;
          invocation.kill(error as Error);
          throw error;
        }
        if (plan !== undefined) {
          // A crash point past the calls it made: it dies after its work, before answering.
          this.counts.crashes.end++;
          invocation.kill(new InvocationCrashError(`${functionId}: crashed after its work`));
          throw invocation.dead;
        }
        return result;
      } finally {
        clearTimeout(timer);
      }
    };
  };

  #plan(functionId: string): CrashPlan | undefined {
    if (!this.enabled || !this.#options.functions.has(functionId)) return undefined;
    this.counts.invocations++;
    if (this.#random.next() >= this.#options.crashRate) return undefined;
    const draw = this.#random.next();
    const call = this.#random.integer(1, this.#options.maxCall ?? 6);
    if (draw < 0.1) return { point: "start", call: 0 };
    if (draw < 0.55) return { point: "beforeCall", call };
    return { point: "afterCall", call };
  }

  #created(request: ClientRequest): void {
    const invocation = this.#context.getStore();
    if (invocation === undefined) return;
    request.setHeader(CALLER_HEADER, invocation.functionId);
    if (invocation.dead !== undefined) {
      request.destroy(invocation.dead);
      return;
    }
    this.#invocationOf.set(request, invocation);
    invocation.inFlight.add(request);
    request.once("close", () => invocation.inFlight.delete(request));
    invocation.calls++;
    const { plan } = invocation;
    if (plan?.point === "beforeCall" && plan.call === invocation.calls) this.#crash(invocation, "beforeCall");
  }

  #finished(request: ClientRequest): void {
    const invocation = this.#invocationOf.get(request);
    if (invocation === undefined || invocation.dead !== undefined) return;
    invocation.answers++;
    const { plan } = invocation;
    if (plan?.point === "afterCall" && plan.call === invocation.answers) this.#crash(invocation, "afterCall");
  }

  #crash(invocation: Invocation, point: "beforeCall" | "afterCall"): void {
    this.counts.crashes[point]++;
    invocation.kill(
      new InvocationCrashError(
        `${invocation.functionId}: crashed ${point === "beforeCall" ? "before" : "after"} call ${invocation.plan?.call}`,
      ),
    );
  }
}
