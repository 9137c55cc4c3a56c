/** Writes the backends dump to a file (atomically: temp + rename) or to stdout ("-"). */
import { randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { WatcherAgent } from "#shared/watcher/watcher-agent.ts";
import { backendsDump } from "./backends-dump.ts";

export async function writeBackendsDump(target: string, node: string, agent: WatcherAgent): Promise<void> {
  const text = `${JSON.stringify(backendsDump(node, agent.cache, agent.appliedThroughMs), null, 2)}\n`;
  if (target === "-") {
    // Flushed before returning: the agent exits right after its final dump, and a pipe takes it in chunks.
    await new Promise<void>((resolve, reject) =>
      process.stdout.write(text, (error) => (error == null ? resolve() : reject(error))),
    );
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  const temporary = `${target}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, target);
}
