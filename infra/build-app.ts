/**
 * Builds the app: settings from context, the stack, and the cdk-nag plugin. Shared by
 * infra/app.ts (the CLI's entry point) and the tests, so both synthesize the same thing.
 */
import { App, type AppProps, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { readSettings, type Settings } from "#infra/settings.ts";
import { SlicelineStack } from "#infra/sliceline-stack.ts";

export interface BuiltApp {
  readonly app: App;
  readonly stack: SlicelineStack;
  readonly settings: Settings;
  readonly nag: AwsSolutionsChecks;
}

export function buildApp(props: AppProps = {}): BuiltApp {
  const app = new App({ analyticsReporting: false, ...props });
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const stack = new SlicelineStack(app, settings.stackName, {
    settings,
    description: "sliceline: Kubernetes endpoint distribution as a serverless pipeline",
    ...(settings.account !== undefined || settings.region !== undefined
      ? { env: { account: settings.account, region: settings.region } }
      : {}),
  });
  const nag = new AwsSolutionsChecks(app, { verbose: true });
  Validations.of(app).addPlugins(nag);
  return { app, stack, settings, nag };
}
