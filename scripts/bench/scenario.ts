/**
 * Scenario files (bench/scenarios/*.json) and the scale factor that fits them to a machine.
 *
 * A file describes the seed's cluster at full size (scale 1: 5,000 nodes, 200k pods, ...). The
 * scale shrinks sizes (nodes, namespaces, Services, pods, the big Service, namespaces flipped,
 * watchers) but never rates: 100 pod changes per second is the point of the benchmark, whatever
 * the cluster's size. Durations stay as written unless `seconds` overrides them.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { Scenario, ScenarioPhase } from "./types.ts";

export const SCENARIO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../bench/scenarios");

export const SCENARIO_NAMES = [
  "steady",
  "burst",
  "rolling-update",
  "big-service",
  "namespace-label-flip",
  "heartbeat-storm",
  "mass-restart",
] as const;

const positive = z.number().positive();
const count = z.number().int().nonnegative();
const seconds = z.number().positive();

const phaseSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("churn"), podChangesPerSecond: positive, seconds }).strict(),
  z
    .object({
      kind: z.literal("rolling-update"),
      podChangesPerSecond: positive,
      fraction: z.number().gt(0).max(1),
    })
    .strict(),
  z
    .object({
      kind: z.literal("namespace-label-flip"),
      namespaces: z.number().int().positive(),
      /** The flips are spread over this many seconds, with background churn at this rate. */
      seconds: seconds.optional(),
      podChangesPerSecond: positive.optional(),
    })
    .strict(),
  z.object({ kind: z.literal("node-heartbeats"), heartbeatsPerSecond: positive, seconds }).strict(),
  z
    .object({
      kind: z.literal("watcher-restart"),
      fraction: z.number().gt(0).max(1),
      backoffBaseMs: positive,
      backoffCapMs: positive,
      podChangesPerSecond: positive,
      seconds,
    })
    .strict(),
]);

export const scenarioFileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    description: z.string().min(1),
    seed: z.number().int(),
    nodes: z.number().int().positive(),
    zones: z.array(z.string().regex(/^[A-Za-z0-9._-]{1,63}$/)).min(1),
    namespaces: z.number().int().positive(),
    services: z.number().int().positive(),
    pods: z.number().int().positive(),
    bigServicePods: count,
    watchers: z.number().int().positive(),
    phases: z.array(phaseSchema).min(1),
    /** The scale `loadScenario` applies when the caller names none (what fits this 2-core machine). */
    defaultScale: z.number().gt(0).max(1),
    /** The fleet at the default scale, when it is not watchers x defaultScale. */
    defaultWatchers: z.number().int().positive().optional(),
  })
  .strict()
  .refine((file) => file.bigServicePods <= file.pods, { message: "bigServicePods must be ≤ pods" })
  .refine((file) => file.watchers <= file.nodes, { message: "watchers must be ≤ nodes" });

export type ScenarioFile = z.infer<typeof scenarioFileSchema>;

export interface LoadScenarioOptions {
  /** Size factor; default the file's defaultScale. */
  readonly scale?: number;
  /** Fleet size; default the file's watchers times the scale (or its defaultWatchers at the default scale). */
  readonly watchers?: number;
  /** Replaces the duration of every timed phase. */
  readonly seconds?: number;
}

export class ScenarioError extends Error {
  override name = "ScenarioError";
}

/** A scenario by name (bench/scenarios/<name>.json) or by path, scaled. */
export function loadScenario(nameOrPath: string, options: LoadScenarioOptions = {}): Scenario {
  const path = nameOrPath.endsWith(".json") ? resolve(nameOrPath) : join(SCENARIO_DIR, `${nameOrPath}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ScenarioError(`cannot read scenario ${path}: ${(error as Error).message}`);
  }
  const parsed = scenarioFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ScenarioError(
      `invalid scenario ${path}: ${z.prettifyError(parsed.error).replaceAll("\n", " ")}`,
    );
  }
  return scaleScenario(parsed.data, options);
}

/** Sizes times the scale (at least 1 of each), rates kept; a fleet never outnumbers the nodes. */
export function scaleScenario(file: ScenarioFile, options: LoadScenarioOptions = {}): Scenario {
  const scale = options.scale ?? file.defaultScale;
  if (!(scale > 0 && scale <= 1)) throw new ScenarioError(`scale must be in (0, 1], got ${scale}`);
  const sized = (n: number) => Math.max(1, Math.round(n * scale));
  const watchers =
    options.watchers ??
    (options.scale === undefined && file.defaultWatchers !== undefined
      ? file.defaultWatchers
      : sized(file.watchers));
  if (!Number.isInteger(watchers) || watchers < 1) {
    throw new ScenarioError(`watchers must be a positive integer, got ${watchers}`);
  }
  const services = sized(file.services);
  const bigServicePods = file.bigServicePods === 0 ? 0 : sized(file.bigServicePods);
  // Every ordinary Service keeps at least one pod, so a tiny scale still has a pod per Service.
  const pods = Math.max(sized(file.pods), bigServicePods + services - (bigServicePods > 0 ? 1 : 0));
  const namespaces = Math.min(sized(file.namespaces), services);
  return {
    name: file.name,
    description: file.description,
    scale,
    // One watcher is one node agent: a fleet of W watchers needs W nodes.
    nodes: Math.max(sized(file.nodes), watchers),
    zones: file.zones,
    namespaces,
    services,
    pods,
    bigServicePods,
    watchers,
    phases: file.phases.map((phase) => scalePhase(phase, sized, namespaces, options.seconds)),
    seed: file.seed,
  };
}

function scalePhase(
  phase: ScenarioFile["phases"][number],
  sized: (n: number) => number,
  namespaces: number,
  seconds: number | undefined,
): ScenarioPhase {
  switch (phase.kind) {
    case "namespace-label-flip":
      return {
        ...phase,
        namespaces: Math.min(sized(phase.namespaces), namespaces),
        ...(seconds !== undefined && phase.seconds !== undefined ? { seconds } : {}),
      };
    case "rolling-update":
      return phase;
    default:
      return seconds === undefined ? phase : { ...phase, seconds };
  }
}
