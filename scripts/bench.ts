/**
 * npm run bench -- <scenario> [options]
 *
 * One trace, every strategy, one report (docs/contract.md §6):
 *   model   per-endpoint, per-Service, EndpointSlice 100, CES 50/100, sliceline-best: exact counts of
 *           writes, deliveries and bytes over the trace for the fleet (scripts/bench/strategy-model.ts)
 *   live    the trace through the real pipeline on the embedded stack to a fleet of real watcher
 *           agents: latency, convergence, deliveries and bytes as received, AWS requests as counted
 *   etcd    the same trace into etcd 3.4 as Cilium's kvstore keys, N watchers on etcd watches
 * Writes bench-results/<scenario>-<time>.{json,html,png}; exit status 1 when an acceptance check fails.
 *
 * Options:
 *   --scale S            size factor of the scenario (default: the file's)
 *   --watchers N         fleet size for every strategy (default: the scenario's)
 *   --seconds S          duration of every timed phase
 *   --live-watchers N    fleet size of the live pass (default: --watchers)
 *   --fleet-workers K    worker threads the live fleet is split over (default: one per 250 agents,
 *                        at most one per core)
 *   --fleet-client C     the live agents' SQS client: thin (default, scripts/bench/fleet-sqs-client.ts) or sdk
 *   --delete-interval S  live agents delete in batches every S seconds, as the node agent with a state
 *                        directory (default: its snapshot interval, 5 s); 0: after every receive, as
 *                        the node agent with --no-state
 *   --fleet-nice N       nice value of the live fleet's threads (default 5: below the pipeline and
 *                        the emulators, as agents on their own nodes; 0 shares the cores evenly)
 *   --no-live, --no-etcd skip a part
 *   --all-zones          live watchers take whole EndpointSlices instead of their zone's part
 *   --window S           the ingest batching window of the live pipeline (seconds, default 1)
 *   --compare FILE       an earlier report of the same scenario: adds "two runs agree within 20%"
 *   --out DIR            default bench-results
 *   -c key=value         CDK context for the live pipeline (any infra setting), repeatable
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runEtcdPeer } from "#scripts/bench/etcd-peer.ts";
import { generateTrace } from "#scripts/bench/load-generator.ts";
import { createProgress, type Progress } from "#scripts/bench/progress.ts";
import { costFloorConsole } from "#scripts/bench/report-cost-floor.ts";
import {
  type AcceptanceInput,
  type BenchReport,
  buildBenchReport,
  ratioCheck,
  type ScalingPoint,
  writeBenchReport,
} from "#scripts/bench/report-document.ts";
import { loadScenario } from "#scripts/bench/scenario.ts";
import { modelStrategies } from "#scripts/bench/strategy-model.ts";
import type { StrategyResult } from "#scripts/bench/types.ts";
import { describeCpuShare } from "./bench/cpu-accounting.ts";
import { type LivePassDetails, runLivePass } from "./bench/live-pass.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scale: { type: "string" },
    watchers: { type: "string" },
    seconds: { type: "string" },
    "live-watchers": { type: "string" },
    "fleet-workers": { type: "string" },
    "fleet-client": { type: "string" },
    "delete-interval": { type: "string" },
    "fleet-nice": { type: "string" },
    "no-live": { type: "boolean", default: false },
    "no-etcd": { type: "boolean", default: false },
    "all-zones": { type: "boolean", default: false },
    window: { type: "string" },
    compare: { type: "string" },
    out: { type: "string" },
    context: { type: "string", short: "c", multiple: true },
  },
});
const scenarioName = positionals[0];
if (scenarioName === undefined) {
  console.error("usage: npm run bench -- <scenario> [--scale S] [--watchers N] [--seconds S] ...");
  process.exit(2);
}
const optionalNumber = (text: string | undefined) => (text === undefined ? undefined : Number(text));
const startedAt = new Date();
const scenario = loadScenario(scenarioName, {
  ...(args.scale === undefined ? {} : { scale: Number(args.scale) }),
  ...(args.watchers === undefined ? {} : { watchers: Number(args.watchers) }),
  ...(args.seconds === undefined ? {} : { seconds: Number(args.seconds) }),
});
const trace = generateTrace(scenario);
const liveWatchers = optionalNumber(args["live-watchers"]) ?? scenario.watchers;
const windowSeconds = optionalNumber(args.window) ?? 1;
log(
  `${scenario.name} at scale ${scenario.scale}: ${scenario.nodes} nodes, ${scenario.pods} pods, ${scenario.services} Services, ${scenario.watchers} watchers; ${trace.events.length - trace.measuredFrom} events (${trace.podChanges} pod changes) after ${trace.measuredFrom} of initial load`,
);

/**
 * The live p99 target: 2 s for the fleet it was set at (up to 100 agents), 3 s above (issue 11:
 * 1,000 live agents on this machine, the emulators and the fleet sharing its two cores).
 */
function p99TargetMs(agents: number): number {
  return agents <= 100 ? 2000 : 3000;
}

function fleetClientOf(text: string): "thin" | "sdk" {
  if (text !== "thin" && text !== "sdk") throw new Error(`--fleet-client wants thin or sdk, got ${text}`);
  return text;
}

function extraContext(): Record<string, unknown> {
  return Object.fromEntries(
    (args.context ?? []).map((pair) => {
      const at = pair.indexOf("=");
      if (at < 1) throw new Error(`-c wants key=value, got ${pair}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

const strategies: StrategyResult[] = [];
const scaling: ScalingPoint[] = [];
const notes: string[] = [];

const model = await modelStrategies(trace, { sliceline: { batchWindowMs: windowSeconds * 1000 } });
strategies.push(...model.results);
scaling.push(...model.scaling([100, 300, 1000, 3000, 5000, 10_000]));
log(`model pass: ${model.results.length} strategies in ${(model.elapsedMs / 1000).toFixed(1)} s`);
{
  // The baselines deliver every endpoint to every watcher: sliceline at that scope, beside the zone-only design.
  const sameScope = model.results.find((result) => result.strategy === "sliceline-best-all-zones");
  const perEndpoint = model.results.find((result) => result.strategy === "per-endpoint");
  if (sameScope !== undefined && perEndpoint !== undefined && perEndpoint.deliveriesPerPodChange > 0)
    notes.push(
      `At the baselines' scope (agents take whole EndpointSlices, not their zone's part), sliceline-best-all-zones delivers ${(sameScope.deliveriesPerPodChange / perEndpoint.deliveriesPerPodChange).toFixed(4)} of per-endpoint's deliveries and ${(sameScope.bytesPerPodChange / perEndpoint.bytesPerPodChange).toFixed(3)} of its bytes per pod change (model).`,
    );
}

let live: LivePassDetails | undefined;
if (!args["no-live"]) {
  const bars = new Map<string, Progress>();
  const { result, details } = await runLivePass({
    trace,
    watchers: liveWatchers,
    zoneOnly: !args["all-zones"],
    ...(args["fleet-workers"] === undefined ? {} : { fleetWorkers: Number(args["fleet-workers"]) }),
    ...(args["fleet-client"] === undefined ? {} : { fleetSqsClient: fleetClientOf(args["fleet-client"]) }),
    ...(args["delete-interval"] === undefined
      ? {}
      : { deleteIntervalSeconds: Number(args["delete-interval"]) }),
    ...(args["fleet-nice"] === undefined ? {} : { fleetNice: Number(args["fleet-nice"]) }),
    factoryModule: new URL("./bench/agent-member.ts", import.meta.url).href,
    // The stack's own settings: the benchmark measures what `cdk deploy` deploys.
    context: { ingestBatchWindowSeconds: windowSeconds, ...extraContext() },
    progress: (stage, done, total) => {
      let bar = bars.get(stage);
      if (bar === undefined) {
        for (const open of bars.values()) open.stop();
        bar = createProgress({ label: `live: ${stage}`, total });
        bars.set(stage, bar);
      }
      bar.update(done);
    },
  });
  for (const bar of bars.values()) bar.stop();
  strategies.push(result);
  live = details;
  scaling.push({
    strategy: result.strategy,
    watchers: result.watchers,
    deliveriesPerPodChange: result.deliveriesPerPodChange,
    bytesPerPodChange: result.bytesPerPodChange,
    peakDeliveriesPerSecond: result.peakDeliveriesPerSecond,
    measurement: "live",
  });
  log(
    `live pass: ${result.convergedWatchers}/${result.totalWatchers} converged, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, ${result.deliveriesPerPodChange.toFixed(3)} deliveries and ${Math.round(result.bytesPerPodChange)} B per pod change`,
  );
  const stage = (name: string, summary: { p50Ms: number; p99Ms: number }) =>
    `${name} p50 ${Math.round(summary.p50Ms)} / p99 ${Math.round(summary.p99Ms)} ms`;
  log(
    `live pass, where the time went: ${stage("source → in the agent's queue", details.stages.toQueue)}; ${stage("in the queue → received", details.stages.inQueue)}; ${stage("received → applied", details.stages.apply)}`,
  );
  log(`live pass, CPU from the replay to idle: ${describeCpuShare(details.cpu)}`);
}

if (!args["no-etcd"]) {
  const bar = createProgress({ label: "etcd peer", total: trace.events.length, unit: "events" });
  const etcd = await runEtcdPeer(trace, {
    watchers: scenario.watchers,
    onProgress: (progress) => bar.update(progress.eventsSent, progress.stage),
  });
  bar.stop();
  strategies.push(etcd);
  log(
    `etcd peer: ${etcd.convergedWatchers}/${etcd.totalWatchers} converged, p50 ${etcd.latency.p50Ms} ms, p99 ${etcd.latency.p99Ms} ms`,
  );
}

const acceptance: AcceptanceInput[] = [
  ratioCheck(
    strategies,
    "sliceline-best",
    "per-endpoint",
    "deliveriesPerPodChange",
    1 / 20,
    "sliceline-best deliveries per pod change ≤ 1/20 of per-endpoint (model)",
  ),
  ratioCheck(
    strategies,
    "sliceline-best",
    "per-endpoint",
    "bytesPerPodChange",
    1 / 5,
    "sliceline-best bytes per pod change ≤ 1/5 of per-endpoint (model)",
  ),
];
const liveResult = strategies.find((result) => result.strategy === "sliceline-live");
const perEndpoint = strategies.find((result) => result.strategy === "per-endpoint");
if (liveResult !== undefined && perEndpoint !== undefined) {
  // The model's per-endpoint figures scale with the fleet: compare at the live fleet's size.
  const atLiveSize = (field: "deliveriesPerPodChange" | "bytesPerPodChange") =>
    (perEndpoint[field] * liveResult.watchers) / perEndpoint.watchers;
  acceptance.push(
    {
      name: "sliceline live deliveries per pod change ≤ 1/20 of per-endpoint (same fleet size)",
      value: liveResult.deliveriesPerPodChange / atLiveSize("deliveriesPerPodChange"),
      threshold: 1 / 20,
      direction: "atMost",
      unit: "× per-endpoint",
    },
    {
      name: "sliceline live bytes per pod change ≤ 1/5 of per-endpoint (same fleet size)",
      value: liveResult.bytesPerPodChange / atLiveSize("bytesPerPodChange"),
      threshold: 1 / 5,
      direction: "atMost",
      unit: "× per-endpoint",
    },
    {
      name: `sliceline live p99 propagation ≤ ${p99TargetMs(liveResult.watchers) / 1000} s (${liveResult.watchers} agents)`,
      value: liveResult.latency.p99Ms,
      threshold: p99TargetMs(liveResult.watchers),
      direction: "atMost",
      unit: "ms",
    },
    {
      name: "every live watcher converged to the truth",
      value: liveResult.convergedWatchers / liveResult.totalWatchers,
      threshold: 1,
      direction: "atLeast",
    },
  );
}
const etcdResult = strategies.find((result) => result.strategy === "etcd-kvstore");
if (etcdResult !== undefined)
  acceptance.push({
    name: "every etcd watcher converged to the truth",
    value: etcdResult.convergedWatchers / etcdResult.totalWatchers,
    threshold: 1,
    direction: "atLeast",
  });
if (args.compare !== undefined) acceptance.push(...agreementChecks(args.compare, strategies));

const report = buildBenchReport({
  scenario,
  strategies,
  scaling,
  ...(live === undefined
    ? {}
    : {
        live: {
          ...live,
          lambdaSamples: [
            {
              function: "IngestFunction",
              durationMs: live.lambda.ingestMs / Math.max(1, live.lambda.ingestInvocations),
              memoryMb: live.lambda.memoryMb.IngestFunction ?? 0,
              maxMemoryUsedMb: live.lambda.maxRssMb,
            },
            {
              function: "FanoutFunction",
              durationMs: live.lambda.fanoutMs / Math.max(1, live.lambda.fanoutInvocations),
              memoryMb: live.lambda.memoryMb.FanoutFunction ?? 0,
              maxMemoryUsedMb: live.lambda.maxRssMb,
            },
          ],
          notes: [
            "Lambda durations are in-process wall times on the shared 2-core machine (an upper bound of Lambda's); maxMemoryUsedMb is the whole local process's peak RSS (all three handlers, the runner, the fleet's worker threads; fauxqs runs in its own process), an upper bound of any one function's.",
            ...(liveResult?.notes ?? []),
          ],
        },
      }),
  acceptance,
  startedAt,
  notes,
  cost: { batchWindowSeconds: windowSeconds },
});
const written = writeBenchReport(report, args.out);
printSummary(report);
console.log(`\nreport: ${written.json}\n        ${written.html}\n        ${written.png}`);
process.exitCode = report.acceptance.every((check) => check.pass) ? 0 : 1;

/**
 * "Two runs agree within 20%" is asked of sliceline's strategies: their figures are acceptance
 * checks. The other strategies' differences are listed in the notes (the etcd peer's latency, for
 * one, follows whatever else the two cores are doing).
 */
function agreementChecks(path: string, current: readonly StrategyResult[]): AcceptanceInput[] {
  const previous = JSON.parse(readFileSync(path, "utf8")) as BenchReport;
  const checks: AcceptanceInput[] = [];
  const fields = ["deliveriesPerPodChange", "bytesPerPodChange"] as const;
  for (const result of current) {
    const before = previous.strategies.find((entry) => entry.strategy === result.strategy);
    if (before === undefined) continue;
    for (const field of fields) {
      checks.push({
        name: `${result.strategy} ${field} within 20% of ${path}`,
        value: relativeDifference(result[field], before[field]),
        threshold: 0.2,
        direction: "atMost",
      });
    }
    if (result.measurement === "live")
      checks.push({
        name: `${result.strategy} p99 latency within 20% of ${path}`,
        value: relativeDifference(result.latency.p99Ms, before.latency.p99Ms),
        threshold: 0.2,
        direction: "atMost",
      });
  }
  const isSliceline = (check: AcceptanceInput) => check.name.startsWith("sliceline");
  for (const check of checks.filter((entry) => !isSliceline(entry)))
    notes.push(`${check.name}: relative difference ${check.value.toFixed(3)}`);
  return checks.filter(isSliceline);
}

function relativeDifference(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

function printSummary(report: BenchReport): void {
  console.log(
    `\n${"strategy".padEnd(26)}${"measured".padEnd(8)}${"watchers".padStart(9)}${"writes".padStart(9)}${"deliv/pc".padStart(11)}${"B/pc".padStart(11)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"conv".padStart(11)}${"$/M pc".padStart(10)}`,
  );
  for (const r of report.strategies) {
    console.log(
      `${r.strategy.padEnd(26)}${r.measurement.padEnd(8)}${String(r.watchers).padStart(9)}${String(r.objectWrites).padStart(9)}${r.deliveriesPerPodChange.toFixed(2).padStart(11)}${Math.round(r.bytesPerPodChange).toString().padStart(11)}${Math.round(r.latency.p50Ms).toString().padStart(9)}${Math.round(r.latency.p99Ms).toString().padStart(9)}${`${r.convergedWatchers}/${r.totalWatchers}`.padStart(11)}${(r.costPerMillionPodChangesUsd === undefined ? "-" : r.costPerMillionPodChangesUsd.toFixed(2)).padStart(10)}`,
    );
  }
  if (report.costFloor !== undefined)
    for (const line of costFloorConsole(report.costFloor)) console.log(line);
  console.log("\nacceptance:");
  for (const check of report.acceptance)
    console.log(
      `  ${check.pass ? "PASS" : "FAIL"}  ${check.name}: ${formatValue(check.value)} (${check.direction === "atMost" ? "≤" : "≥"} ${formatValue(check.threshold)})`,
    );
}

function formatValue(value: number): string {
  return Math.abs(value) >= 100 || Number.isInteger(value) ? String(Math.round(value)) : value.toPrecision(3);
}

function log(line: string): void {
  console.log(line);
}
