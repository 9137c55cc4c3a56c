/**
 * Least privilege, read from both ends: the IAM actions each function's role is granted equal the
 * actions the SDK commands in its bundled code need (test/infra/sdk-actions.ts), no more and no
 * fewer. Left out of the comparison: what the platform grants for it to run (its own log group,
 * X-Ray, and what an event source mapping reads or sends on the function's behalf) and KMS, which
 * follows from encrypted topics (asserted in stack.test.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Template } from "aws-cdk-lib/assertions";
import { WATCHER_SWEEPER_FUNCTION_ID } from "#infra/constructs/watcher-sweeper.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";
import { sdkUseOf } from "#test/infra/sdk-actions.ts";
import { synthApp } from "#test/infra/synth.ts";
import { ofType, type Resources, render, resourcesOf, statementsOfFunction } from "#test/infra/template.ts";

/** Granted on "*" for the platform (active tracing; CDK's DynamoEventSource), not for the code. */
const PLATFORM_STAR_ACTIONS = new Set([
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "dynamodb:ListStreams",
]);

/** ARNs an event source mapping of `functionId` reads from or sends failures to. */
function eventSourceResources(resources: Resources, functionId: string): Set<string> {
  const arns = new Set<string>();
  for (const [, mapping] of ofType(resources, "AWS::Lambda::EventSourceMapping")) {
    const props = mapping.Properties ?? {};
    if (render(props.FunctionName) !== `\${${functionId}}`) continue;
    arns.add(render(props.EventSourceArn));
    const destination = (props.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
      ?.OnFailure?.Destination;
    if (destination !== undefined) arns.add(render(destination));
  }
  return arns;
}

/** The actions a function's role grants for its code to use. */
function codeGrants(resources: Resources, functionId: string): string[] {
  const fn = resources[functionId]?.Properties ?? {};
  const logGroup = render((fn.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup);
  const platform = eventSourceResources(resources, functionId);
  // LoggingConfig names the log group by Ref; the role's statement names it by its Arn.
  platform.add(`${logGroup.slice(0, -1)}.Arn}`);
  const actions = new Set<string>();
  for (const statement of statementsOfFunction(resources, functionId)) {
    if (statement.resources.every((resource) => platform.has(resource))) continue;
    for (const action of statement.actions) {
      if (action.startsWith("kms:")) continue;
      if (statement.resources.includes("*") && PLATFORM_STAR_ACTIONS.has(action)) continue;
      actions.add(action);
    }
  }
  return [...actions].sort();
}

const HANDLERS: Record<string, string> = {
  [LOGICAL_IDS.ingestFunction]: "functions/ingest/handler.ts",
  [LOGICAL_IDS.fanoutFunction]: "functions/fanout/handler.ts",
  [LOGICAL_IDS.apiFunction]: "functions/api/handler.ts",
  // The same module, its function URL entry: the same SDK commands, so the same grants.
  [LOGICAL_IDS.apiWatchFunction]: "functions/api/handler.ts",
  [WATCHER_SWEEPER_FUNCTION_ID]: "functions/watcher-sweeper/handler.ts",
};

const CONFIGURATIONS = [
  ["sandbox", {}],
  ["production with a write budget", { production: "true", writeBudget: "400" }],
] as const;

describe("IAM grants match the SDK calls of each function's code", () => {
  for (const [name, context] of CONFIGURATIONS) {
    const resources = resourcesOf(Template.fromStack(synthApp({ context }).stack));
    const functions = ofType(resources, "AWS::Lambda::Function").map(([id]) => id);

    it(`knows the code of every function (${name})`, () => {
      for (const id of functions) assert.ok(HANDLERS[id] !== undefined, `${id}: which handler?`);
    });

    for (const [functionId, entry] of Object.entries(HANDLERS)) {
      it(`${functionId}: granted actions = actions its SDK commands need (${name})`, async () => {
        const use = await sdkUseOf(entry);
        const granted = codeGrants(resources, functionId);
        assert.deepEqual(granted, [...use.actions], `commands in ${entry}: ${use.commands.join(", ")}`);
      });
    }
  }
});
