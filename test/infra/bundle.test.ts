/**
 * What `cdk synth` does offline, bundling included: every handler is bundled by the local esbuild
 * (no Docker, no network) into an ESM file with the `require` shim and a linked source map, with
 * the AWS SDK v3 left to the runtime.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Template } from "aws-cdk-lib/assertions";
import { WATCHER_SWEEPER_FUNCTION_ID } from "#infra/constructs/watcher-sweeper.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";
import { synthApp } from "#test/infra/synth.ts";
import { ofType, resourcesOf } from "#test/infra/template.ts";

const built = synthApp({ bundle: true });
const assembly = built.app.synth();
const resources = resourcesOf(Template.fromStack(built.stack));

function bundleOf(functionId: string): string {
  const key = String((resources[functionId]?.Properties?.Code as { S3Key?: string } | undefined)?.S3Key);
  const directory = join(assembly.directory, `asset.${key.replace(/\.zip$/, "")}`);
  assert.ok(existsSync(directory), `${functionId}: asset directory ${directory}`);
  return directory;
}

describe("bundled handlers", () => {
  it("bundles exactly the three pipeline functions, the watch function and the watcher sweeper", () => {
    assert.equal(ofType(resources, "AWS::Lambda::Function").length, 5);
  });

  it("bundles the API's module once for the API and the watch function (one asset, two entries)", () => {
    assert.equal(bundleOf(LOGICAL_IDS.apiWatchFunction), bundleOf(LOGICAL_IDS.apiFunction));
  });

  for (const functionId of [
    LOGICAL_IDS.ingestFunction,
    LOGICAL_IDS.fanoutFunction,
    LOGICAL_IDS.apiFunction,
    LOGICAL_IDS.apiWatchFunction,
    WATCHER_SWEEPER_FUNCTION_ID,
  ]) {
    it(`${functionId}: ESM with a require shim, a linked source map, the SDK left external`, () => {
      const directory = bundleOf(functionId);
      const code = readFileSync(join(directory, "index.mjs"), "utf8");
      assert.ok(code.startsWith("import { createRequire as __slicelineCreateRequire } from 'node:module';"));
      assert.match(code, /\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      assert.ok(existsSync(join(directory, "index.mjs.map")));
      const exported = String(resources[functionId]?.Properties?.Handler).replace(/^index\./, "");
      assert.match(code, new RegExp(`export\\s*\\{[^}]*\\b${exported}\\b[^}]*\\}`), `exports ${exported}`);
      assert.doesNotMatch(code, /node_modules\/@aws-sdk\/client-/, "the AWS SDK comes from the runtime");
    });
  }
});
