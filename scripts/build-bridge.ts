/**
 * `npm run build:bridge [-- --outfile FILE]`: the bridge (scripts/bridge.ts) bundled by esbuild
 * into one ES module with its dependencies (client-node, the SQS client, the credential chain),
 * which plain `node FILE` runs: no node_modules, no TypeScript, no package.json next to it. This
 * is the container's entry (infra/bridge/Dockerfile). Default FILE: .sliceline/bridge/bridge.mjs.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Builds the bundle; resolves to the files it was built from (relative to the repository). */
export async function buildBridge(outfile: string): Promise<string[]> {
  const result = await build({
    entryPoints: [resolve(ROOT, "scripts/bridge.ts")],
    absWorkingDir: ROOT,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    outfile,
    // Some bundled CommonJS dependencies call require() for Node's built-ins.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: "warning",
    metafile: true,
  });
  return Object.keys(result.metafile.inputs);
}

if (import.meta.main) {
  const at = process.argv.indexOf("--outfile");
  const outfile = resolve(at === -1 ? ".sliceline/bridge/bridge.mjs" : (process.argv[at + 1] ?? ""));
  await buildBridge(outfile);
  process.stdout.write(`${outfile}\n`);
}
