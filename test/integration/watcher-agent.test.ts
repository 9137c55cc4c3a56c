/**
 * WatcherAgent against the local stack (startLocalRunner: DynamoDB Local, fauxqs, the real
 * handlers): a full watcher (all three kinds), a zone-only one (EndpointSlices) and a zone-only node
 * agent (all three kinds: its one channel is the Agent@<zone> topic) register, list, then a random
 * trace goes through the ingest queue; polled until their queues are drained, each agent's digest
 * equals the one recomputed from the API's lists. Then they deregister.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ListSubscriptionsByTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import fc from "fast-check";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import type { SimEvent } from "#scripts/sim/cluster-simulator.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { WatcherAgent, WatcherApiError } from "#shared/watcher/watcher-agent.ts";
import { snapshotDigest, snapshotFromObjects } from "#shared/watcher/watcher-snapshot.ts";
import { eventsFor, opArbitrary, seededCluster } from "#test/support/random-trace.ts";

const CONTEXT = {
  ingestTimeoutSeconds: 3,
  ingestBatchWindowSeconds: 1,
  ingestBatchSize: 50,
  zones: "zone-0,zone-1,zone-2",
};
let outdir: string;
let runner: LocalRunner;

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "sliceline-watcher-"));
  runner = await startLocalRunner({ context: CONTEXT, outdir, logLevel: "SILENT", maxPollersPerQueue: 4 });
});
after(async () => {
  await runner?.stop();
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

async function listAll<T extends OutputObject>(path: string): Promise<T[]> {
  const items: T[] = [];
  let token = "";
  do {
    const url = `${runner.config.api}${path}?limit=7${token === "" ? "" : `&continue=${encodeURIComponent(token)}`}`;
    const response = await fetch(url);
    assert.equal(response.status, 200, url);
    const page = (await response.json()) as { items: T[]; metadata: { continue?: string } };
    items.push(...page.items);
    token = page.metadata.continue ?? "";
  } while (token !== "");
  return items;
}

/** The API's state as a watcher of `zone` (all zones: undefined) holds it, with or without Cilium kinds. */
async function truthDigest(zone?: string, cilium = zone === undefined): Promise<string> {
  return snapshotDigest(
    snapshotFromObjects({
      endpointSlices: await listAll<EndpointSlice>("/apis/discovery.k8s.io/v1/endpointslices"),
      ciliumEndpointSlices: cilium
        ? await listAll<CiliumEndpointSlice>("/apis/cilium.io/v2alpha1/ciliumendpointslices")
        : [],
      identities: cilium ? await listAll<CiliumIdentity>("/apis/cilium.io/v2/ciliumidentities") : [],
      zone,
    }),
  );
}

/** The queue endpoints subscribed to the change topic of `scope` (topics found by display name). */
async function subscribersOf(sns: SNSClient, scope: string): Promise<string[]> {
  const resources = runner.template.template.Resources;
  const topic = [...runner.resources.topics].find(
    ([id]) => resources[id]?.Properties?.DisplayName === `sliceline changes: ${scope}`,
  );
  assert.ok(topic !== undefined, `a change topic for ${scope}`);
  const listed = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic[1].arn }));
  return (listed.Subscriptions ?? []).map((subscription) => subscription.Endpoint ?? "");
}

/** Polls until two empty receives in a row with nothing held, or the deadline. */
async function pollUntilDrained(agent: WatcherAgent, deadlineMs: number): Promise<void> {
  for (let empty = 0; empty < 2; ) {
    assert.ok(Date.now() < deadlineMs, `${agent.node} did not drain its queue in time`);
    const { received } = await agent.pollOnce(1);
    empty = received === 0 && agent.heldGaps === 0 ? empty + 1 : 0;
  }
}

function randomEvents(
  seed: number,
  operations: number,
  seeded: ReturnType<typeof seededCluster>,
): SimEvent[] {
  const [ops] = fc.sample(fc.array(opArbitrary, { minLength: operations, maxLength: operations }), {
    seed,
    numRuns: 1,
  });
  return eventsFor(seeded.sim, ops ?? []);
}

describe("WatcherAgent on the local stack", { concurrency: false }, () => {
  it("registers, lists, follows a trace through the pipeline and converges to the API's state", async () => {
    const seeded = seededCluster();
    await runner.sendEvents(runner.config.sqs.ingestQueueUrl, seeded.events, 10);
    await runner.whenIdle({ timeoutMs: 60_000 });

    const options = { api: runner.config.api, sqs: runner.sqs, gapGraceMs: 300 };
    const full = new WatcherAgent({
      ...options,
      node: "agent-full",
      zone: "zone-0",
      kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
    });
    const zonal = new WatcherAgent({
      ...options,
      node: "agent-zonal",
      zone: "zone-0",
      kinds: ["EndpointSlice"],
      zoneOnly: true,
    });
    const nodeAgent = new WatcherAgent({
      ...options,
      node: "agent-node",
      zone: "zone-1",
      kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
      zoneOnly: true,
    });
    const agents = [full, zonal, nodeAgent];
    for (const agent of agents) {
      const registration = await agent.register();
      assert.match(registration.queueUrl, /agent-/);
      await agent.list();
    }
    assert.equal(full.cache.digest(), await truthDigest(), "the list alone equals the API's state");
    assert.ok(full.cache.counts().endpoints > 0 && full.cache.counts().ipcacheEntries > 0);
    assert.equal(nodeAgent.cache.digest(), await truthDigest("zone-1", true));
    const sns = new SNSClient({
      endpoint: runner.config.sns.endpoint,
      region: runner.config.region,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const nodeQueue = (endpoints: string[]) =>
      endpoints.filter((endpoint) => endpoint.includes("agent-node"));
    assert.equal(
      nodeQueue(await subscribersOf(sns, "Agent@zone-1")).length,
      1,
      "the node agent's one channel",
    );
    for (const scope of ["Cilium", "EndpointSlice", "EndpointSlice@zone-1", "Agent@zone-0"])
      assert.deepEqual(nodeQueue(await subscribersOf(sns, scope)), [], scope);
    sns.destroy();

    await runner.sendEvents(runner.config.sqs.ingestQueueUrl, randomEvents(31, 120, seeded), 7);
    await runner.whenIdle({ timeoutMs: 60_000 });
    const deadline = Date.now() + 20_000;
    await pollUntilDrained(full, deadline);
    await pollUntilDrained(zonal, deadline);
    await pollUntilDrained(nodeAgent, deadline);

    assert.equal(full.cache.digest(), await truthDigest());
    assert.equal(zonal.cache.digest(), await truthDigest("zone-0"));
    assert.equal(nodeAgent.cache.digest(), await truthDigest("zone-1", true));
    for (const agent of agents) {
      assert.ok(agent.stats.messages > 0 && agent.stats.applied > 0, JSON.stringify(agent.stats));
      assert.equal(agent.stats.malformed, 0);
      assert.equal(agent.latency.count, agent.stats.applied);
      assert.ok(agent.latency.summary().maxMs > 0);
    }
    assert.ok(zonal.stats.bytes < full.stats.bytes, "a zone-only watcher receives less");
    // One message per fan-out invocation at most, where the full watcher gets one per scope.
    assert.ok(
      nodeAgent.stats.messages <= full.stats.messages,
      `node agent ${nodeAgent.stats.messages} messages, full watcher ${full.stats.messages}`,
    );

    // A restarted agent re-lists and lands on the same state.
    await full.relist();
    assert.equal(full.cache.digest(), await truthDigest());
    assert.equal(full.stats.relists, 1);

    for (const agent of agents) {
      assert.equal(await agent.deregister(), true);
      assert.equal(await agent.deregister(), false, "already gone");
    }
    const gone = await fetch(`${runner.config.api}/v1/watchers/agent-full`);
    assert.equal(gone.status, 404);
  });

  it("reports a rejected registration as a WatcherApiError carrying the Kubernetes Status", async () => {
    const agent = new WatcherAgent({
      api: runner.config.api,
      sqs: runner.sqs,
      node: "Not_A_Node",
      kinds: ["EndpointSlice"],
    });
    await assert.rejects(agent.register(), (error: unknown) => {
      assert.ok(error instanceof WatcherApiError);
      assert.equal(error.code, 400);
      assert.equal(error.status?.reason, "BadRequest");
      return true;
    });
  });
});
