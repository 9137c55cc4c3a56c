/**
 * The CDK app (cdk.json: `node infra/app.ts`). Synthesizes offline: no lookups, no version
 * reporting; account and region only when given as context. cdk-nag's AwsSolutions checks run as
 * a validation plugin, so an unacknowledged finding fails the synth.
 */
import { buildApp } from "#infra/build-app.ts";

buildApp().app.synth();
