/**
 * The benchmark's report document (docs/contract.md §6): one JSON object per run holding the scenario,
 * the machine, every strategy's figures, the scaling series, the live pass, the cost model and
 * the acceptance checks; and the writer that puts it next to its HTML and PNG renderings.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  type CapacityAssumptions,
  type CapacityCheck,
  capacityCheck,
  DEFAULT_CAPACITY_ASSUMPTIONS,
} from "./capacity-model.ts";
import {
  COST_FLOOR_PRICE_IDS,
  type CostFloorSection,
  costFloorSection,
  MEASURED_ETCD_DEFAULTS,
} from "./cost-floor.ts";
import {
  type CostBreakdown,
  costPerMillionPodChanges,
  loadPriceBook,
  type MonthlyCost,
  monthlyCost,
  type PriceBook,
} from "./cost-model.ts";
import { renderReportHtml } from "./report-html.ts";
import { renderPng } from "./report-png.ts";
import { renderSummarySvg } from "./report-summary-svg.ts";
import type { Measurement, Scenario, StrategyResult } from "./types.ts";

export interface MachineFacts {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly os: string;
  readonly arch: string;
  readonly node: string;
  /** 1, 5 and 15 minute load averages when the report was built. */
  readonly loadAverage: readonly number[];
}

export function collectMachineFacts(): MachineFacts {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    node: process.version,
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

/** One strategy at one fleet size, for the "as N grows" chart. */
export interface ScalingPoint {
  readonly strategy: string;
  readonly watchers: number;
  readonly deliveriesPerPodChange: number;
  readonly bytesPerPodChange: number;
  readonly peakDeliveriesPerSecond: number;
  readonly measurement?: Measurement;
}

export interface AcceptanceInput {
  readonly name: string;
  readonly value: number;
  readonly threshold: number;
  /** atMost: pass when value ≤ threshold; atLeast: pass when value ≥ threshold. */
  readonly direction: "atMost" | "atLeast";
  readonly unit?: string;
  readonly note?: string;
}

export interface AcceptanceCheck extends AcceptanceInput {
  readonly pass: boolean;
}

export interface LambdaSample {
  readonly function: string;
  readonly durationMs: number;
  readonly memoryMb: number;
  readonly maxMemoryUsedMb?: number;
}

/** What the live pass through the local pipeline saw, beyond its StrategyResult. Free-form. */
export interface LivePass {
  readonly notes?: readonly string[];
  readonly lambdaSamples?: readonly LambdaSample[];
  readonly [key: string]: unknown;
}

export interface SizeEstimate {
  readonly nodes: number;
  readonly monthly: MonthlyCost;
  readonly capacity: CapacityCheck;
}

export interface StrategyCost {
  readonly strategy: string;
  readonly measurement: Measurement;
  /** Watcher count the request counts were measured at (the projection's starting point). */
  readonly measuredWatchers: number;
  readonly breakdown: CostBreakdown;
  readonly sizes: readonly SizeEstimate[];
}

export interface CostModelSection {
  readonly prices: PriceBook;
  readonly podChangesPerSecond: number;
  readonly nodeSizes: readonly number[];
  readonly assumptions: CapacityAssumptions;
  readonly method: readonly string[];
  readonly strategies: readonly StrategyCost[];
}

export interface BenchReport {
  readonly tool: { readonly name: string; readonly version: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly command: { readonly argv: readonly string[]; readonly line: string; readonly cwd: string };
  readonly machine: MachineFacts;
  readonly scenario: Scenario;
  /** Derived from the scenario's phases. */
  readonly scenarioTotals: { readonly phaseSeconds: number; readonly maxPodChangesPerSecond: number };
  /** The strategy the 1/20 and 1/5 reference lines are drawn against (per-endpoint objects). */
  readonly baselineStrategy?: string;
  readonly strategies: readonly StrategyResult[];
  readonly scaling: readonly ScalingPoint[];
  readonly live?: LivePass;
  readonly costModel: CostModelSection;
  /** Cost per node per month beside the delivery floor and a self-managed etcd (issue 11, item 3). */
  readonly costFloor?: CostFloorSection;
  readonly acceptance: readonly AcceptanceCheck[];
  readonly notes: readonly string[];
}

export interface BenchReportInput {
  readonly scenario: Scenario;
  readonly strategies: readonly StrategyResult[];
  readonly scaling?: readonly ScalingPoint[];
  readonly live?: LivePass;
  readonly acceptance?: readonly AcceptanceInput[];
  readonly startedAt: Date | string;
  /** Default: now. */
  readonly finishedAt?: Date | string;
  /** Default: process.argv. */
  readonly argv?: readonly string[];
  /** Default: the strategy named "per-endpoint", when there is one. */
  readonly baselineStrategy?: string;
  readonly notes?: readonly string[];
  readonly cost?: {
    readonly prices?: PriceBook;
    /** Default 100. */
    readonly podChangesPerSecond?: number;
    /** Default 1,000, 5,000 and 50,000 nodes, one watcher each. */
    readonly nodeSizes?: readonly number[];
    readonly assumptions?: Partial<CapacityAssumptions>;
    /** The ingest batching window the floor delivers once per (default 1 s, the stack's). */
    readonly batchWindowSeconds?: number;
  };
  /** Default: collectMachineFacts(). */
  readonly machine?: MachineFacts;
}

export const DEFAULT_NODE_SIZES = [1000, 5000, 50_000] as const;
export const DEFAULT_POD_CHANGES_PER_SECOND = 100;

const COST_METHOD = [
  "Cost per million pod changes = Σ over request kinds of (requests per pod change × 1,000,000 × unit price); free tiers ignored.",
  "At another fleet size, per-watcher kinds (watcher-queue receives and deletes, SNS→SQS deliveries) are scaled linearly from the measured watcher count; the others are kept. These are projections, not measurements.",
  "Per month = cost per pod change × pod-change rate × 730 hours, plus empty long polls: a watcher queue polled with a 20 s wait makes max(0, 1/20 − receives/s) extra ReceiveMessage calls a second (3 a minute when idle).",
  "Busiest partition key: the write units a strategy counted on its busiest partition key of a table or index (dynamodbBusiestKeyWriteUnits: the live pass attributes every item write it sees to the keys it lands on, the model every item the adapter would write; scripts/bench/write-units.ts); for a strategy that reports none, hottestKeyWriteShare of all write units (default 1, the worst case). Measured at the benchmark's cluster: its namespaces and Services spread the keys; a cluster with one dominant namespace concentrates them.",
  "Capacity: each demand (publishes/s, WRU/s, concurrency = GB-s/s ÷ memory, API requests/s, Subscribe calls/s to re-register the fleet in the window, queue and subscription counts) over its default limit from docs/aws.md; the highest ratio is the limit hit first.",
];

function readToolVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return manifest.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

function scenarioTotals(scenario: Scenario) {
  let phaseSeconds = 0;
  let maxPodChangesPerSecond = 0;
  for (const phase of scenario.phases) {
    if ("seconds" in phase && typeof phase.seconds === "number") phaseSeconds += phase.seconds;
    if ("podChangesPerSecond" in phase && typeof phase.podChangesPerSecond === "number") {
      maxPodChangesPerSecond = Math.max(maxPodChangesPerSecond, phase.podChangesPerSecond);
    }
  }
  return { phaseSeconds, maxPodChangesPerSecond };
}

/** A shell-pasteable command line: arguments with spaces or quotes are single-quoted. */
export function shellLine(argv: readonly string[]): string {
  return argv
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

function costModel(strategies: readonly StrategyResult[], input: BenchReportInput["cost"]): CostModelSection {
  const prices = input?.prices ?? loadPriceBook();
  const podChangesPerSecond = input?.podChangesPerSecond ?? DEFAULT_POD_CHANGES_PER_SECOND;
  const nodeSizes = input?.nodeSizes ?? DEFAULT_NODE_SIZES;
  const assumptions = { ...DEFAULT_CAPACITY_ASSUMPTIONS, ...input?.assumptions };
  const priced = strategies
    .filter((result) => Object.keys(result.awsRequestsPerPodChange).length > 0)
    .map((result) => ({
      strategy: result.strategy,
      measurement: result.measurement,
      measuredWatchers: result.watchers,
      breakdown: costPerMillionPodChanges(result.awsRequestsPerPodChange, prices),
      sizes: nodeSizes.map((nodes) => {
        const monthly = monthlyCost(
          result.awsRequestsPerPodChange,
          result.watchers,
          nodes,
          podChangesPerSecond,
          prices,
        );
        return {
          nodes,
          monthly,
          capacity: capacityCheck(monthly.projected, nodes, podChangesPerSecond, assumptions),
        };
      }),
    }));
  return { prices, podChangesPerSecond, nodeSizes, assumptions, method: COST_METHOD, strategies: priced };
}

/** The floor beside the model's sliceline-best; etcd sized from this run's etcd peer when it ran. */
function costFloor(
  strategies: readonly StrategyResult[],
  cost: CostModelSection,
  windowSeconds: number,
): CostFloorSection | undefined {
  const name = "sliceline-best";
  const result = strategies.find((entry) => entry.strategy === name);
  const priced = cost.strategies.find((entry) => entry.strategy === name);
  if (result === undefined || priced === undefined) return undefined;
  if (!COST_FLOOR_PRICE_IDS.every((id) => cost.prices.entries.some((entry) => entry.id === id)))
    return undefined;
  const etcd = strategies.find((entry) => entry.strategy === "etcd-kvstore");
  // EtcdPeerResult's own figures (etcd-peer.ts), beside the common ones.
  const figures = (etcd as { readonly etcd?: { readonly etcdCpuSeconds?: number } } | undefined)?.etcd;
  const measured =
    etcd !== undefined &&
    etcd.deliveries > 0 &&
    etcd.podChanges > 0 &&
    typeof figures?.etcdCpuSeconds === "number"
      ? {
          keyWritesPerPodChange: etcd.objectWrites / etcd.podChanges,
          watchEventsPerPodChangePerNode: etcd.deliveries / etcd.podChanges / Math.max(1, etcd.watchers),
          bytesPerWatchEvent: etcd.bytesDelivered / etcd.deliveries,
          cpuSecondsPerWatchEvent: figures.etcdCpuSeconds / etcd.deliveries,
          source: `this run's etcd peer (${etcd.watchers} watchers)`,
        }
      : undefined;
  return costFloorSection(
    {
      strategy: name,
      podChangesPerSecond: cost.podChangesPerSecond,
      windowSeconds,
      messageBytes:
        result.deliveriesPerPodChange > 0 ? result.bytesPerPodChange / result.deliveriesPerPodChange : 0,
      sizes: priced.sizes.map((size) => size.monthly),
      firstLimits: priced.sizes.map((size) => {
        const first = size.capacity.firstLimit;
        return first?.utilization == null
          ? undefined
          : { what: first.limit.what, utilization: first.utilization };
      }),
      others: cost.strategies
        .filter((entry) => entry.strategy !== name)
        .map((entry) => ({
          strategy: entry.strategy,
          measurement: entry.measurement,
          measuredWatchers: entry.measuredWatchers,
          sizes: entry.sizes.map((size) => size.monthly),
        })),
      etcd: measured ?? MEASURED_ETCD_DEFAULTS,
    },
    cost.prices,
  );
}

export function evaluateAcceptance(check: AcceptanceInput): AcceptanceCheck {
  const pass = check.direction === "atMost" ? check.value <= check.threshold : check.value >= check.threshold;
  return { ...check, pass: Number.isFinite(check.value) && pass };
}

/**
 * An acceptance check "strategy's field is at most `ratio` × the baseline's", e.g. sliceline's
 * deliveries per pod change at most 1/20 of per-endpoint objects'. Throws when either is missing.
 */
export function ratioCheck(
  strategies: readonly StrategyResult[],
  strategy: string,
  baseline: string,
  field: "deliveriesPerPodChange" | "bytesPerPodChange" | "objectWrites",
  ratio: number,
  label: string,
): AcceptanceInput {
  const subject = strategies.find((result) => result.strategy === strategy);
  const reference = strategies.find((result) => result.strategy === baseline);
  if (subject === undefined || reference === undefined) {
    throw new BenchReportError(
      `ratio check "${label}": strategy ${strategy} or ${baseline} not in the results`,
    );
  }
  return {
    name: label,
    value: reference[field] === 0 ? Number.POSITIVE_INFINITY : subject[field] / reference[field],
    threshold: ratio,
    direction: "atMost",
    unit: `× ${baseline}`,
  };
}

export class BenchReportError extends Error {
  override name = "BenchReportError";
}

export function buildBenchReport(input: BenchReportInput): BenchReport {
  const startedAt = new Date(input.startedAt);
  const finishedAt = new Date(input.finishedAt ?? new Date());
  const argv = input.argv ?? process.argv;
  const cost = costModel(input.strategies, input.cost);
  const perMillion = new Map(cost.strategies.map((entry) => [entry.strategy, entry.breakdown]));
  const strategies = input.strategies.map((result) => {
    const modelled = perMillion.get(result.strategy);
    if (modelled === undefined || result.costPerMillionPodChangesUsd !== undefined) return result;
    return { ...result, costPerMillionPodChangesUsd: modelled.usdPerMillionPodChanges };
  });
  const floor = costFloor(input.strategies, cost, input.cost?.batchWindowSeconds ?? 1);
  const baselineStrategy =
    input.baselineStrategy ?? input.strategies.find((result) => result.strategy === "per-endpoint")?.strategy;
  return {
    tool: { name: "sliceline-bench", version: readToolVersion() },
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 10) / 100,
    command: { argv, line: shellLine(argv), cwd: process.cwd() },
    machine: input.machine ?? collectMachineFacts(),
    scenario: input.scenario,
    scenarioTotals: scenarioTotals(input.scenario),
    ...(baselineStrategy === undefined ? {} : { baselineStrategy }),
    strategies,
    scaling: input.scaling ?? [],
    ...(input.live === undefined ? {} : { live: input.live }),
    costModel: cost,
    ...(floor === undefined ? {} : { costFloor: floor }),
    acceptance: (input.acceptance ?? []).map(evaluateAcceptance),
    notes: input.notes ?? [],
  };
}

export interface WrittenReport {
  readonly json: string;
  readonly html: string;
  readonly png: string;
}

/** `<dir>/<scenario>-<startedAt>.{json,html,png}`; returns the three paths. */
export function writeBenchReport(report: BenchReport, dir = "bench-results"): WrittenReport {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replaceAll(":", "-").replaceAll(".", "-");
  const safeName = report.scenario.name.replaceAll(/[^\w.-]+/g, "_");
  const base = path.join(dir, `${safeName}-${stamp}`);
  const written = { json: `${base}.json`, html: `${base}.html`, png: `${base}.png` };
  writeFileSync(written.json, `${JSON.stringify(report, jsonSafe, 2)}\n`);
  writeFileSync(written.html, renderReportHtml(report));
  writeFileSync(written.png, renderPng(renderSummarySvg(report)));
  return written;
}

/** JSON has no Infinity: write it as a string so a failed ratio stays visible. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}
