/**
 * The README's end-to-end walkthrough, one command each, as a user runs them (child processes,
 * nothing in-process): `npm run local -- --no-demo`, `npm run sim-cluster` (a simulated cluster
 * with churn), `npm run bridge` into the local ingest queues, `kubectl get endpointslices -A -w`
 * on the local API, and `npm run agent -- --once --dump` on a node. When the churn stops, the
 * agent's Service backends are exactly the ready pods the cluster's own API lists, and kubectl's
 * watch printed the changes as they came.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

const CHURN_SECONDS = 12;
let dir: string;
let kubectl: string;
const children: ChildProcess[] = [];
let simServer: string;
let localConfig: { api: string };
let kubectlOutput = "";

function start(args: readonly string[]): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (stream !== null) createInterface({ input: stream }).on("line", (line) => lines.push(line));
  }
  children.push(child);
  return { child, lines };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

interface ListedPod {
  metadata: { namespace: string; name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

/** "<namespace>/<service>" → sorted ready pod IPs, from the simulated cluster's own pod list. */
async function readyBackendsOfCluster(): Promise<Map<string, string[]>> {
  const list = (await (await fetch(`${simServer}/api/v1/pods`)).json()) as { items: ListedPod[] };
  const backends = new Map<string, string[]>();
  for (const pod of list.items) {
    const ready = pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    const app = pod.metadata.labels?.app;
    if (!ready || app === undefined || pod.status.podIP === undefined || pod.metadata.deletionTimestamp)
      continue;
    const key = `${pod.metadata.namespace}/${app}`;
    backends.set(key, [...(backends.get(key) ?? []), pod.status.podIP].sort());
  }
  return backends;
}

interface Dump {
  services: Array<{
    namespace: string;
    service: string;
    backends: Array<{ addresses: string[]; ready: boolean }>;
  }>;
  ipcache: Array<{ ip: string }>;
}

function readyBackendsOfDump(dump: Dump): Map<string, string[]> {
  const backends = new Map<string, string[]>();
  for (const service of dump.services) {
    const ready = service.backends.filter((b) => b.ready).flatMap((b) => b.addresses);
    if (ready.length > 0) backends.set(`${service.namespace}/${service.service}`, ready.sort());
  }
  return backends;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sliceline-walkthrough-"));
  kubectl = execFileSync("scripts/ensure-kubectl.sh", { encoding: "utf8" }).trim();
  const configPath = join(dir, "local.json");
  const kubeconfig = join(dir, "sim-kubeconfig.yaml");
  // 1. the pipeline.
  const local = start(["scripts/local.ts", "--no-demo", "--config", configPath]);
  await waitFor(
    "the local pipeline",
    () => (existsSync(configPath) ? true : local.child.exitCode === null ? undefined : false),
    180_000,
  ).then((ready) => assert.ok(ready, `npm run local exited:\n${local.lines.join("\n")}`));
  localConfig = JSON.parse(readFileSync(configPath, "utf8")) as { api: string };
  // 2. the cluster, churning for CHURN_SECONDS, then still.
  const sim = start([
    "scripts/sim-cluster.ts",
    ...["--kubeconfig", kubeconfig, "--rate", "10", "--seconds", String(CHURN_SECONDS)],
  ]);
  const serving = await waitFor("sim-cluster", () => sim.lines.find((l) => l.includes('"serving"')), 30_000);
  simServer = (JSON.parse(serving) as { server: string }).server;
  // 3. the bridge; 4. kubectl following sliceline's slices.
  const bridge = start(["scripts/bridge.ts", "--kubeconfig", kubeconfig, "--target", configPath]);
  await waitFor(
    "the bridge's lists",
    () => bridge.lines.find((l) => l.includes('"bridge watching"')),
    60_000,
  );
  const watch = spawn(kubectl, ["--server", localConfig.api, "get", "endpointslices", "-A", "-w"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(watch);
  watch.stdout?.on("data", (chunk: Buffer) => {
    kubectlOutput += chunk.toString();
  });
  // What the cluster lists once its churn stopped is what every node must end with.
  await waitFor("the churn to stop", () => sim.lines.find((l) => l.includes('"churn stopped"')), 60_000);
});

after(async () => {
  for (const child of children.reverse()) {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
    }
  }
  await sleep(2_000);
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("README walkthrough: sim-cluster → bridge → pipeline → agent, kubectl -w", () => {
  it("a node agent ends with exactly the cluster's ready backends", async () => {
    const expected = await readyBackendsOfCluster();
    assert.equal(expected.size, 6, "three namespaces × two Services with ready pods");
    // The pipeline has settled once a fresh agent's view equals the cluster's: retry until it does.
    let last: Map<string, string[]> | undefined;
    const deadline = Date.now() + 90_000;
    for (let attempt = 1; ; attempt++) {
      const dumpPath = join(dir, `dump-${attempt}.json`);
      execFileSync(
        process.execPath,
        [
          "scripts/agent.ts",
          ...["--node", "sim-node-1", "--zone", "zone-b", "--target", join(dir, "local.json")],
          ...["--state-dir", join(dir, "agent"), "--once", "--dump", dumpPath],
        ],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 },
      );
      last = readyBackendsOfDump(JSON.parse(readFileSync(dumpPath, "utf8")) as Dump);
      if (JSON.stringify([...last].sort()) === JSON.stringify([...expected].sort())) break;
      if (Date.now() > deadline) break;
      await sleep(2_000);
    }
    assert.deepEqual(new Map([...(last ?? [])].sort()), new Map([...expected].sort()));
  });

  it("kubectl -w on sliceline's API printed every Service's slices and the changes", () => {
    const rows = kubectlOutput.split("\n").filter((line) => /^sim-\d/.test(line));
    for (const namespace of ["sim-0", "sim-1", "sim-2"]) {
      for (const service of ["web", "api"]) {
        assert.ok(
          rows.some((row) => row.startsWith(`${namespace} `) && row.includes(` ${service}-`)),
          `no row for ${namespace}/${service}:\n${kubectlOutput}`,
        );
      }
    }
    // Six slices listed first; the churn's changes came after them as watch events.
    assert.ok(rows.length > 12, `only ${rows.length} rows:\n${kubectlOutput}`);
  });
});
