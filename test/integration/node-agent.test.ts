/**
 * The node agent (shared/agent/node-agent.ts, `npm run agent`) on the local stack, with watcher
 * authorization on (the local principal header stands for the SigV4-signed caller):
 *   - it registers, lists and converges on a cluster sent through ingest; /metrics and /healthz
 *     answer; its acknowledgements make /v1/stats' convergence show every node applied;
 *   - stopped (state saved), more changes through ingest, restarted from its state directory: it
 *     resumes from its queue without a list and converges again, reading a fraction of the objects
 *     a full re-list reads (measured and printed);
 *   - a corrupt state file makes it list (and say why), not crash.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { LOCAL_CALLER_HEADER } from "#scripts/local/http-api.ts";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import { NodeAgent, type NodeAgentOptions } from "#shared/agent/node-agent.ts";
import { agentStatePath } from "#shared/agent/state-file.ts";
import type { FleetConvergence } from "#shared/api/convergence.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { snapshotDigest, snapshotFromObjects } from "#shared/watcher/watcher-snapshot.ts";
import { eventsFor, opArbitrary, seededCluster } from "#test/support/random-trace.ts";

const NODE_ROLE = "arn:aws:sts::000000000000:assumed-role/sliceline-node";
const CONTEXT = {
  ingestTimeoutSeconds: 3,
  ingestBatchWindowSeconds: 1,
  ingestBatchSize: 50,
  zones: "zone-0,zone-1",
  watcherAuthorization: "principal",
  watcherNodePrincipals: "arn:aws:sts::*:assumed-role/sliceline-node/{node}",
};
let outdir: string;
let stateDir: string;
let runner: LocalRunner;
let seeded: ReturnType<typeof seededCluster>;

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "sliceline-agent-"));
  stateDir = mkdtempSync(join(tmpdir(), "sliceline-agent-state-"));
  runner = await startLocalRunner({ context: CONTEXT, outdir, logLevel: "SILENT", maxPollersPerQueue: 4 });
  seeded = seededCluster();
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, seeded.events, 10);
  await runner.whenIdle({ timeoutMs: 60_000 });
  // A cluster of a few hundred objects, so a re-list and a resume differ measurably.
  await changeCluster(10, 600);
});
after(async () => {
  await runner?.stop();
  for (const dir of [outdir, stateDir]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function fetchAs(principal: string): typeof fetch {
  return (input, init = {}) =>
    fetch(input, {
      ...init,
      headers: { ...(init.headers as Record<string, string> | undefined), [LOCAL_CALLER_HEADER]: principal },
    });
}

function nodeAgent(node: string, options: Partial<NodeAgentOptions> = {}): NodeAgent {
  return new NodeAgent({
    api: runner.config.api,
    sqs: runner.sqs,
    node,
    kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
    fetch: fetchAs(`${NODE_ROLE}/${node}`),
    stateDir,
    snapshotIntervalMs: 200,
    ackIntervalMs: 200,
    waitSeconds: 1,
    gapGraceMs: 300,
    ...options,
  });
}

let listedBytes = 0;

async function listAll<T extends OutputObject>(path: string): Promise<T[]> {
  const items: T[] = [];
  let token = "";
  do {
    const url = `${runner.config.api}${path}?limit=50${token === "" ? "" : `&continue=${encodeURIComponent(token)}`}`;
    const response = await fetch(url);
    assert.equal(response.status, 200, url);
    const text = await response.text();
    listedBytes += Buffer.byteLength(text);
    const page = JSON.parse(text) as { items: T[]; metadata: { continue?: string } };
    items.push(...page.items);
    token = page.metadata.continue ?? "";
  } while (token !== "");
  return items;
}

/** The API's state: its digest and how many objects a full list reads. */
async function truth(): Promise<{ digest: string; objects: number; bytes: number }> {
  listedBytes = 0;
  const endpointSlices = await listAll<EndpointSlice>("/apis/discovery.k8s.io/v1/endpointslices");
  const ciliumEndpointSlices = await listAll<CiliumEndpointSlice>(
    "/apis/cilium.io/v2alpha1/ciliumendpointslices",
  );
  const identities = await listAll<CiliumIdentity>("/apis/cilium.io/v2/ciliumidentities");
  return {
    digest: snapshotDigest(snapshotFromObjects({ endpointSlices, ciliumEndpointSlices, identities })),
    objects: endpointSlices.length + ciliumEndpointSlices.length + identities.length,
    bytes: listedBytes,
  };
}

async function converged(agents: readonly NodeAgent[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const { digest } = await truth();
  for (;;) {
    const behind = agents.filter((agent) => agent.agent.cache.digest() !== digest);
    if (behind.length === 0) return;
    assert.ok(
      Date.now() < deadline,
      `${behind.map((agent) => agent.agent.node).join(", ")} did not converge`,
    );
    await sleep(200);
  }
}

async function changeCluster(seed: number, count = 60): Promise<void> {
  const [ops] = fc.sample(fc.array(opArbitrary, { minLength: count, maxLength: count }), {
    seed,
    numRuns: 1,
  });
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, eventsFor(seeded.sim, ops ?? []), 7);
  await runner.whenIdle({ timeoutMs: 60_000 });
}

async function convergence(): Promise<FleetConvergence> {
  const response = await fetch(`${runner.config.api}/v1/stats`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { convergence: FleetConvergence }).convergence;
}

describe("node agent on the local stack", { concurrency: false }, () => {
  it("converges, serves /metrics and /healthz, and resumes after a restart without a re-list", async (t) => {
    const first = nodeAgent("agent-a");
    const peer = nodeAgent("agent-b", { stateDir: undefined, metricsPort: undefined });
    const started = await first.start();
    await peer.start();
    assert.equal(started.mode, "listed");
    const fullList = started.objectsRead;
    assert.ok(fullList > 0);
    await converged([first, peer]);

    // Changes after registration: the acknowledgements carry their source times.
    await changeCluster(11);
    await converged([first, peer]);
    const acked = Date.now() + 30_000;
    let fleet = await convergence();
    while (fleet.watermarkMs === null || fleet.latency === null || fleet.acknowledged < 2) {
      assert.ok(Date.now() < acked, `no convergence in /v1/stats: ${JSON.stringify(fleet)}`);
      await sleep(300);
      fleet = await convergence();
    }
    assert.equal(fleet.nodes, 2);
    assert.equal(fleet.acknowledged, 2);
    assert.ok(fleet.oldest !== null && ["agent-a", "agent-b"].includes(fleet.oldest.node));
    assert.ok(fleet.latency.p50Ms <= fleet.latency.p99Ms);
    t.diagnostic(`convergence after the first change set: ${JSON.stringify(fleet)}`);

    await first.stop();
    const stoppedRead = first.agent.stats.objectsRead;
    await changeCluster(12);
    await changeCluster(13);

    const second = nodeAgent("agent-a", { metricsPort: 0 });
    const resumed = await second.start();
    assert.equal(resumed.mode, "resumed", JSON.stringify(resumed));
    assert.equal(resumed.objectsRead, 0, "a resume lists nothing");
    await converged([second, peer]);
    const { objects: relistObjects, bytes: relistBytes } = await truth();
    const resumeRead = second.agent.stats.objectsRead;
    assert.equal(second.agent.stats.relists, 0);
    assert.ok(
      resumeRead < relistObjects,
      `resumed read ${resumeRead} objects, a full re-list reads ${relistObjects}`,
    );
    t.diagnostic(
      `restart resume: ${resumeRead} objects (${second.agent.stats.bytesRead} B) read from the API to converge after 120 changes, ` +
        `vs ${relistObjects} objects (${relistBytes} B) for a full re-list (first start listed ${fullList}; first run read ${stoppedRead} in all); ` +
        `${second.agent.stats.messages} queue messages received after the restart`,
    );

    const base = second.metricsUrl as string;
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    assert.match(text, /^sliceline_agent_resumed 1$/m);
    assert.match(text, /^sliceline_agent_relists_total 0$/m);
    assert.match(text, /^sliceline_agent_objects_held\{kind="EndpointSlice"\} [1-9]\d*$/m);
    assert.match(text, /^# TYPE sliceline_agent_propagation_latency_milliseconds summary$/m);
    const healthz = await fetch(`${base}/healthz`);
    assert.equal(healthz.status, 200, await healthz.clone().text());

    await second.stop();
    await peer.stop();
    await fetch(`${runner.config.api}/v1/watchers/agent-b`, {
      method: "DELETE",
      headers: { [LOCAL_CALLER_HEADER]: `${NODE_ROLE}/agent-b` },
    });
  });

  it("lists when its saved state is corrupt, and says why", async () => {
    writeFileSync(agentStatePath(stateDir, "agent-a"), "{ not json");
    const agent = nodeAgent("agent-a");
    const report = await agent.start();
    assert.equal(report.mode, "listed");
    assert.match((report as { reason: string }).reason, /corrupt state/);
    await converged([agent]);
    await agent.stop();
  });
});
