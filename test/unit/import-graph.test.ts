/**
 * Product code (shared/, functions/, infra/) never imports tooling (scripts/: benchmark, simulator,
 * local runner; test/: fixtures), and the core stays free of AWS and of the adapters: the Lambda
 * bundles then carry only product code.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, it } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g;

function sourceFiles(folder: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, folder), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts"))
      out.push(relative(ROOT, join(entry.parentPath, entry.name)));
  }
  return out;
}

/** Every import specifier of a file, relative ones resolved to a path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(IMPORT)].map((match) => {
    const specifier = (match[1] ?? match[2]) as string;
    return specifier.startsWith(".") ? relative(ROOT, resolve(ROOT, file, "..", specifier)) : specifier;
  });
}

function violations(folders: readonly string[], forbidden: (specifier: string) => boolean): string[] {
  return folders.flatMap((folder) =>
    sourceFiles(folder).flatMap((file) =>
      importsOf(file)
        .filter(forbidden)
        .map((specifier) => `${file} → ${specifier}`),
    ),
  );
}

const isTooling = (specifier: string): boolean =>
  /^#(scripts|test)\//.test(specifier) || /^(scripts|test)\//.test(specifier);

describe("import graph", () => {
  it("finds the imports it checks (the scan is not empty)", () => {
    const imports = sourceFiles("shared").flatMap(importsOf);
    assert.ok(imports.length > 300, `only ${imports.length} imports found`);
    assert.ok(imports.includes("#shared/core/model.ts"));
    // The detector sees tooling imports where they are allowed: tests use the fixtures.
    assert.ok(violations(["test"], isTooling).some((arrow) => arrow.includes("#test/support/")));
  });

  it("has no arrow from product code to tooling", () => {
    assert.deepEqual(violations(["shared", "functions", "infra"], isTooling), []);
  });

  it("keeps the core free of AWS, adapters and the pipeline around it", () => {
    const outside = (specifier: string): boolean =>
      specifier.startsWith("@aws-sdk/") ||
      specifier.startsWith("aws-cdk-lib") ||
      /^(#shared\/|shared\/)(adapters|pipeline|fanout|api|agent|bridge|watcher)\//.test(specifier) ||
      isTooling(specifier);
    assert.deepEqual(violations(["shared/core"], outside), []);
  });
});
