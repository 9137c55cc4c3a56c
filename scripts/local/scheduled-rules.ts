/**
 * EventBridge schedules from the template: each AWS::Events::Rule with a `rate(...)`
 * ScheduleExpression invokes its Lambda targets with the target's constant Input, every period
 * (or every `intervalMs`, for tests and short local runs). `fire()` runs one round now. Cron
 * expressions, event patterns and non-Lambda targets are not emulated (the stack uses none).
 */
import type { Context } from "aws-lambda";
import type { Template } from "./template.ts";

export type ScheduledHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface ScheduledTarget {
  readonly functionId: string;
  readonly input: unknown;
}

export interface ScheduledRuleDefinition {
  readonly logicalId: string;
  readonly periodMs: number;
  readonly targets: readonly ScheduledTarget[];
}

const UNIT_MS: Readonly<Record<string, number>> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** The template's scheduled rules that target functions (by logical id), with their inputs. */
export function scheduledRules(template: Template): ScheduledRuleDefinition[] {
  const rules: ScheduledRuleDefinition[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== "AWS::Events::Rule") continue;
    const properties = resource.Properties ?? {};
    if (properties.State === "DISABLED") continue;
    const rate = /^rate\((\d+) (\w+)\)$/.exec(String(properties.ScheduleExpression ?? ""));
    const unit = UNIT_MS[rate?.[2] ?? ""];
    if (rate === null || unit === undefined) continue;
    const targets = ((properties.Targets as Array<Record<string, unknown>> | undefined) ?? []).flatMap(
      (target) => {
        const arn = target.Arn as { "Fn::GetAtt"?: [string, string] } | undefined;
        const functionId = arn?.["Fn::GetAtt"]?.[0];
        if (functionId === undefined || template.Resources[functionId]?.Type !== "AWS::Lambda::Function")
          return [];
        const input = typeof target.Input === "string" ? (JSON.parse(target.Input) as unknown) : {};
        return [{ functionId, input }];
      },
    );
    if (targets.length > 0) rules.push({ logicalId, periodMs: Number(rate[1]) * unit, targets });
  }
  return rules;
}

export class ScheduledRule {
  readonly definition: ScheduledRuleDefinition;
  readonly #handlers: ReadonlyMap<string, ScheduledHandler>;
  readonly #context: (functionId: string) => Context;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown[]> | undefined;
  invocations = 0;

  constructor(
    definition: ScheduledRuleDefinition,
    handlers: ReadonlyMap<string, ScheduledHandler>,
    context: (functionId: string) => Context,
    onError: (error: unknown) => void,
  ) {
    this.definition = definition;
    this.#handlers = handlers;
    this.#context = context;
    this.#onError = onError;
  }

  start(intervalMs = this.definition.periodMs): void {
    this.#timer = setInterval(() => {
      this.#running ??= this.fire()
        .catch((error: unknown) => {
          this.#onError(error);
          return [];
        })
        .finally(() => {
          this.#running = undefined;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  /** Invokes every target once, now; resolves to their results. */
  async fire(): Promise<unknown[]> {
    const results: unknown[] = [];
    for (const target of this.definition.targets) {
      const handler = this.#handlers.get(target.functionId);
      if (handler === undefined) continue;
      this.invocations++;
      results.push(await handler(structuredClone(target.input), this.#context(target.functionId)));
    }
    return results;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
