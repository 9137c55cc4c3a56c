/**
 * Synthesizes the app the way `cdk synth` does (cdk.json's context, then overrides), into a
 * temporary directory, without AWS credentials or network. Bundling is skipped unless asked for:
 * template tests do not depend on the handlers compiling (the asset is then the source directory).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BuiltApp, buildApp } from "#infra/build-app.ts";
import { PROJECT_ROOT } from "#infra/constructs/pipeline-function.ts";

export interface SynthOptions {
  readonly context?: Record<string, unknown>;
  /** Run esbuild for every function, as `cdk synth` does. */
  readonly bundle?: boolean;
}

export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export function synthApp(options: SynthOptions = {}): BuiltApp {
  const outdir = mkdtempSync(join(tmpdir(), "sliceline-cdk-"));
  process.once("exit", () => rmSync(outdir, { recursive: true, force: true }));
  return buildApp({
    outdir,
    context: {
      ...cdkJsonContext(),
      ...(options.bundle === true ? {} : { "aws:cdk:bundling-stacks": [] }),
      ...options.context,
    },
  });
}
