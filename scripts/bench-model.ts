/**
 * The strategy model per scenario at its default scale (or --scale/--watchers/--seconds), as a table:
 *   node scripts/bench-model.ts [steady burst ...] [--scale 0.2] [--watchers 1000] [--seconds 60]
 *     [--window 1000] [--fanout-batch 100] [--ces-rate-limits '[{"nodes":0,"limit":10,"burst":20}]']
 *     [--json out.json]
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { generateTrace } from "#scripts/bench/load-generator.ts";
import { loadScenario, SCENARIO_NAMES } from "#scripts/bench/scenario.ts";
import { modelStrategies } from "#scripts/bench/strategy-model.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scale: { type: "string" },
    watchers: { type: "string" },
    seconds: { type: "string" },
    json: { type: "string" },
    "fanout-batch": { type: "string" },
    window: { type: "string" },
    "ces-rate-limits": { type: "string" },
  },
});
const names = positionals.length > 0 ? positionals : [...SCENARIO_NAMES];
const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
const documents = [];
for (const name of names) {
  const scenario = loadScenario(name, {
    ...(args.scale ? { scale: Number(args.scale) } : {}),
    ...(args.watchers ? { watchers: Number(args.watchers) } : {}),
    ...(number(args.seconds) !== undefined ? { seconds: Number(args.seconds) } : {}),
  });
  const trace = generateTrace(scenario);
  const pass = await modelStrategies(trace, {
    ...(args["ces-rate-limits"] ? { cesRateLimits: JSON.parse(args["ces-rate-limits"]) } : {}),
    sliceline: {
      ...(args["fanout-batch"] ? { fanoutBatchSize: Number(args["fanout-batch"]) } : {}),
      ...(args.window ? { batchWindowMs: Number(args.window) } : {}),
    },
  });
  console.log(
    `\n${name}: scale ${scenario.scale}, ${scenario.nodes} nodes, ${scenario.pods} pods, ${scenario.services} Services, ${scenario.watchers} watchers; ${trace.events.length - trace.measuredFrom} events, ${trace.podChanges} pod changes; model pass ${(pass.elapsedMs / 1000).toFixed(1)} s`,
  );
  console.log(
    `${"strategy".padEnd(26)}${"writes".padStart(9)}${"deliveries".padStart(13)}${"MB".padStart(10)}${"deliv/pc".padStart(10)}${"B/pc".padStart(11)}${"peak deliv/s".padStart(14)}${"p50 ms".padStart(9)}${"p99 ms".padStart(10)}`,
  );
  for (const r of pass.results) {
    console.log(
      `${r.strategy.padEnd(26)}${String(r.objectWrites).padStart(9)}${String(r.deliveries).padStart(13)}${(r.bytesDelivered / 1e6).toFixed(1).padStart(10)}${r.deliveriesPerPodChange.toFixed(1).padStart(10)}${Math.round(r.bytesPerPodChange).toString().padStart(11)}${String(r.peakDeliveriesPerSecond).padStart(14)}${String(r.latency.p50Ms).padStart(9)}${String(r.latency.p99Ms).padStart(10)}`,
    );
  }
  const best = pass.results.find((r) => r.strategy === "sliceline-best");
  if (best)
    console.log(
      `sliceline-best AWS requests per pod change: ${JSON.stringify(best.awsRequestsPerPodChange)}`,
    );
  const scaling = pass.scaling([100, 1000, 5000]);
  console.log("deliveries | bytes per pod change at 100 / 1,000 / 5,000 watchers:");
  for (const r of pass.results) {
    const points = scaling.filter((p) => p.strategy === r.strategy);
    console.log(
      `  ${r.strategy.padEnd(26)}${points.map((p) => `${p.deliveriesPerPodChange.toFixed(1)} | ${Math.round(p.bytesPerPodChange)}`).join("   ")}`,
    );
  }
  documents.push({
    scenario,
    podChanges: trace.podChanges,
    results: pass.results,
    scaling,
    elapsedMs: pass.elapsedMs,
  });
}
if (args.json) writeFileSync(args.json, `${JSON.stringify(documents, null, 2)}\n`);
