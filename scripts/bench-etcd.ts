/**
 * The etcd kvstore peer on its own: Cilium's kvstore mode on a real etcd 3.4 with N watchers under
 * steady pod churn, one run per watcher count, to see where it saturates.
 *
 *   scripts/ensure-etcd.sh
 *   node_modules/.bin/node scripts/bench-etcd.ts --watchers 100,1000,2000 --rate 100 --seconds 30 --pods 2000
 *
 * Writes bench-results/etcd-peer-<time>.json (every run's StrategyResult plus machine facts) and
 * prints one line per run. The etcd server and the watchers share this machine's cores.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildChurnTrace } from "#scripts/bench/etcd/churn-trace.ts";
import { type EtcdPeerResult, runEtcdPeer } from "#scripts/bench/etcd-peer.ts";

const { values } = parseArgs({
  options: {
    watchers: { type: "string", default: "1000" },
    rate: { type: "string", default: "100" },
    seconds: { type: "string", default: "30" },
    pods: { type: "string", default: "2000" },
    channels: { type: "string" },
    seed: { type: "string", default: "1" },
  },
});

const watcherCounts = (values.watchers as string).split(",").map(Number);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const pods = Number(values.pods);
const results: EtcdPeerResult[] = [];
const loads: { watchers: number; before: number; after: number }[] = [];

for (const watchers of watcherCounts) {
  // One agent per node: the fleet's nodes are the watchers.
  const trace = buildChurnTrace({
    pods,
    nodes: watchers,
    namespaces: 20,
    appsPerNamespace: 10,
    podChangesPerSecond: rate,
    seconds,
    seed: Number(values.seed),
  });
  process.stderr.write(`\n${watchers} watchers: ${trace.podChanges} pod changes over ${seconds} s\n`);
  const loadBefore = os.loadavg()[0] ?? 0;
  const result = await runEtcdPeer(trace, {
    watchers,
    ...(values.channels ? { channels: Number(values.channels) } : {}),
    onProgress: (p) =>
      process.stderr.write(
        `\r  ${p.stage} ${(p.elapsedMs / 1000).toFixed(0)} s: ${p.eventsSent}/${p.eventsTotal} events, ${p.deliveries} deliveries   `,
      ),
  });
  process.stderr.write("\n");
  results.push(result);
  // The machine may be shared: its 1-minute load says how contended the cores were.
  loads.push({ watchers, before: loadBefore, after: os.loadavg()[0] ?? 0 });
  console.log(
    `${lineOf(result, seconds)} | load1 ${loadBefore.toFixed(1)}->${(os.loadavg()[0] ?? 0).toFixed(1)}`,
  );
}

const outDir = path.resolve(import.meta.dirname, "../bench-results");
mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, `etcd-peer-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      parameters: { watcherCounts, podChangesPerSecond: rate, seconds, pods, seed: Number(values.seed) },
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        memoryGiB: os.totalmem() / 2 ** 30,
        loadAverage1m: loads,
      },
      node: process.version,
      results,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), file)}`);

function lineOf(result: EtcdPeerResult, seconds: number): string {
  const e = result.etcd;
  const offered = (e.ipKeyWrites * result.watchers) / seconds;
  const cores = (cpu: number): string => (cpu / e.replaySeconds).toFixed(2);
  const microsPerDelivery = (cpu: number): string =>
    ((cpu * 1e6) / Math.max(1, result.deliveries)).toFixed(1);
  return [
    `watchers=${result.watchers} channels=${e.channels}`,
    `ipWrites=${e.ipKeyWrites} (+${e.identityKeyWrites} identity keys)`,
    `deliveries=${result.deliveries} offered=${offered.toFixed(0)}/s sustained=${e.sustainedDeliveriesPerSecond.toFixed(0)}/s peak=${result.peakDeliveriesPerSecond}/s`,
    `latency p50=${result.latency.p50Ms.toFixed(1)} p90=${result.latency.p90Ms.toFixed(1)} p99=${result.latency.p99Ms.toFixed(1)} max=${result.latency.maxMs.toFixed(1)} ms`,
    `fromSchedule p50=${e.latencyFromSchedule.p50Ms.toFixed(1)} p99=${e.latencyFromSchedule.p99Ms.toFixed(1)} max=${e.latencyFromSchedule.maxMs.toFixed(1)} ms`,
    `cpu etcd=${cores(e.etcdCpuSeconds)} node=${cores(e.nodeCpuSeconds)} others=${cores(e.otherProcessesCpuSeconds)} iowait=${cores(e.iowaitSeconds)} of ${e.cpus} cores over ${e.replaySeconds.toFixed(1)} s`,
    `cpu per delivery etcd=${microsPerDelivery(e.etcdCpuSeconds)} µs node=${microsPerDelivery(e.nodeCpuSeconds)} µs`,
    `slowWatchersMax=${e.maxSlowWatchers} pendingEventsMax=${e.maxPendingEvents} writerLagMax=${e.writerLagMaxMs.toFixed(0)} ms`,
    `listAndWatch=${(e.listAndWatchMs / 1000).toFixed(1)} s converged=${result.convergedWatchers}/${result.totalWatchers}`,
  ].join(" | ");
}
