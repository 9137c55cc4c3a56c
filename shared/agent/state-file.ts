/**
 * The node agent's state on disk (WatcherAgent.exportState), so a restart resumes from its queue
 * instead of re-listing. Written atomically: to a temporary file in the same directory, flushed,
 * then renamed over the previous one, so a crash mid-write leaves the previous state whole.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AGENT_STATE_FORMAT, type WatcherAgentState } from "#shared/watcher/watcher-agent.ts";

export type LoadedAgentState =
  | { readonly outcome: "loaded"; readonly state: WatcherAgentState; readonly bytes: number }
  | { readonly outcome: "missing" }
  | { readonly outcome: "corrupt"; readonly reason: string };

export function agentStatePath(stateDir: string, node: string): string {
  return join(stateDir, `${node}.state.json`);
}

/** Returns the bytes written. */
export async function saveAgentState(path: string, state: WatcherAgentState): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const text = JSON.stringify(state);
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const file = await open(temporary, "w", 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return Buffer.byteLength(text);
}

export async function loadAgentState(path: string): Promise<LoadedAgentState> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { outcome: "missing" };
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { outcome: "corrupt", reason: "not JSON" };
  }
  const problem = stateProblem(value);
  if (problem !== undefined) return { outcome: "corrupt", reason: problem };
  return { outcome: "loaded", state: value as WatcherAgentState, bytes: Buffer.byteLength(text) };
}

/** The shape resume relies on (the objects themselves were checked when they were applied). */
function stateProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not an object";
  const state = value as Partial<Record<keyof WatcherAgentState, unknown>>;
  if (state.format !== AGENT_STATE_FORMAT) return `format ${JSON.stringify(state.format)}`;
  if (typeof state.node !== "string" || typeof state.queueUrl !== "string") return "no node or queue";
  for (const field of ["registeredAtMs", "lastReceivedAtMs", "savedAtMs"] as const)
    if (typeof state[field] !== "number") return `no ${field}`;
  if (!Array.isArray(state.kinds) || !Array.isArray(state.held)) return "no kinds or held patches";
  const cache = state.cache as Record<string, unknown> | undefined;
  if (
    typeof cache !== "object" ||
    cache === null ||
    !Array.isArray(cache.objects) ||
    !Array.isArray(cache.tombstones) ||
    typeof cache.listedAt !== "object"
  )
    return "no cache";
  return undefined;
}
