/**
 * Watcher hardening on the local stack (startLocalRunner: DynamoDB Local, fauxqs, the real
 * handlers, the template's sweep schedule fired by hand), synthesized with watcher authorization
 * on, a cap of 2 and a 6 s registration TTL:
 *   - the local HTTP API enforces the node binding (principal from LOCAL_CALLER_HEADER), the cap
 *     and ownership, answering Statuses;
 *   - the scheduled sweep removes a silent watcher with its queue and subscriptions;
 *   - the outage suite: an agent converged, stopped, changes made through ingest, its queue purged
 *     (what SQS does to changes older than the queue's retention), the agent resumed after longer
 *     than the retention: it detects it, re-lists and converges to the API's state. Likewise when
 *     its registration expired and was swept while it was down: it registers again and re-lists.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ListSubscriptionsByTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand, PurgeQueueCommand } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { LOCAL_CALLER_HEADER } from "#scripts/local/http-api.ts";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { WatcherAgent } from "#shared/watcher/watcher-agent.ts";
import { snapshotDigest, snapshotFromObjects } from "#shared/watcher/watcher-snapshot.ts";
import { eventsFor, opArbitrary, seededCluster } from "#test/support/random-trace.ts";

const NODE_ROLE = "arn:aws:sts::000000000000:assumed-role/sliceline-node";
const FLEET = "arn:aws:iam::000000000000:role/fleet";
const ADMIN = "arn:aws:iam::000000000000:role/admin";
const TTL_SECONDS = 6;
const CONTEXT = {
  ingestTimeoutSeconds: 3,
  ingestBatchWindowSeconds: 1,
  ingestBatchSize: 50,
  zones: "zone-0,zone-1",
  watcherAuthorization: "principal",
  watcherNodePrincipals: "arn:aws:sts::*:assumed-role/sliceline-node/{node},arn:aws:iam::*:role/fleet",
  watcherAdminPrincipals: ADMIN,
  watcherCapPerCaller: 2,
  watcherTtlSeconds: TTL_SECONDS,
};
let outdir: string;
let runner: LocalRunner;
let seeded: ReturnType<typeof seededCluster>;

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "sliceline-outage-"));
  runner = await startLocalRunner({
    context: CONTEXT,
    outdir,
    logLevel: "SILENT",
    maxPollersPerQueue: 4,
    scheduleIntervalMs: 0,
  });
  seeded = seededCluster();
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, seeded.events, 10);
  await runner.whenIdle({ timeoutMs: 60_000 });
});
after(async () => {
  await runner?.stop();
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

/** A fetch that signs as `principal` the way the local HTTP API reads it. */
function fetchAs(principal: string | undefined): typeof fetch {
  return (input, init = {}) =>
    fetch(input, {
      ...init,
      headers: {
        ...(init.headers as Record<string, string> | undefined),
        ...(principal === undefined ? {} : { [LOCAL_CALLER_HEADER]: principal }),
      },
    });
}

async function call(principal: string | undefined, method: string, path: string, body?: unknown) {
  const response = await fetchAs(principal)(`${runner.config.api}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function assertRefused(
  answer: Promise<{ status: number; body: Record<string, unknown> }>,
  code: number,
  reason: string,
) {
  const { status, body } = await answer;
  assert.equal(status, code, JSON.stringify(body));
  assert.equal(body.kind, "Status");
  assert.equal(body.reason, reason);
}

async function listAll<T extends OutputObject>(path: string): Promise<T[]> {
  const items: T[] = [];
  let token = "";
  do {
    const url = `${runner.config.api}${path}?limit=50${token === "" ? "" : `&continue=${encodeURIComponent(token)}`}`;
    const response = await fetch(url);
    assert.equal(response.status, 200, url);
    const page = (await response.json()) as { items: T[]; metadata: { continue?: string } };
    items.push(...page.items);
    token = page.metadata.continue ?? "";
  } while (token !== "");
  return items;
}

async function truthDigest(): Promise<string> {
  return snapshotDigest(
    snapshotFromObjects({
      endpointSlices: await listAll<EndpointSlice>("/apis/discovery.k8s.io/v1/endpointslices"),
      ciliumEndpointSlices: await listAll<CiliumEndpointSlice>(
        "/apis/cilium.io/v2alpha1/ciliumendpointslices",
      ),
      identities: await listAll<CiliumIdentity>("/apis/cilium.io/v2/ciliumidentities"),
      zone: undefined,
    }),
  );
}

async function pollUntilDrained(agent: WatcherAgent, deadlineMs: number): Promise<void> {
  for (let empty = 0; empty < 2; ) {
    assert.ok(Date.now() < deadlineMs, `${agent.node} did not drain its queue in time`);
    const { received } = await agent.pollOnce(1);
    empty = received === 0 && agent.heldGaps === 0 ? empty + 1 : 0;
  }
}

async function changeCluster(seed: number): Promise<void> {
  const [ops] = fc.sample(fc.array(opArbitrary, { minLength: 60, maxLength: 60 }), { seed, numRuns: 1 });
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, eventsFor(seeded.sim, ops ?? []), 7);
  await runner.whenIdle({ timeoutMs: 60_000 });
}

async function sweep(): Promise<number> {
  const results = await Promise.all(runner.schedules.map((schedule) => schedule.fire()));
  return results.flat().reduce<number>((sum, result) => sum + ((result as { swept?: number }).swept ?? 0), 0);
}

function convergedAgent(node: string, clock: () => number = Date.now): WatcherAgent {
  return new WatcherAgent({
    api: runner.config.api,
    sqs: runner.sqs,
    node,
    zone: "zone-0",
    kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
    fetch: fetchAs(`${NODE_ROLE}/${node}`),
    now: clock,
    gapGraceMs: 300,
    outageMarginMs: 1_000,
  });
}

describe("watcher hardening on the local stack", { concurrency: false }, () => {
  it("enforces the node binding, ownership and the cap through the local HTTP API", async () => {
    const watch = (node: string) => ({ node, kinds: ["CiliumIdentity"] });
    await assertRefused(call(undefined, "POST", "/v1/watchers", watch("n-a")), 403, "Forbidden");
    await assertRefused(call(`${NODE_ROLE}/n-b`, "POST", "/v1/watchers", watch("n-a")), 403, "Forbidden");
    assert.equal((await call(`${NODE_ROLE}/n-a`, "POST", "/v1/watchers", watch("n-a"))).status, 201);
    await assertRefused(call(`${NODE_ROLE}/n-b`, "DELETE", "/v1/watchers/n-a"), 403, "Forbidden");
    await assertRefused(call(`${NODE_ROLE}/n-b`, "GET", "/v1/watchers/n-a"), 403, "Forbidden");
    await assertRefused(call(undefined, "DELETE", "/v1/watchers/n-a"), 403, "Forbidden");

    assert.equal((await call(FLEET, "POST", "/v1/watchers", watch("f-1"))).status, 201);
    assert.equal((await call(FLEET, "POST", "/v1/watchers", watch("f-2"))).status, 201);
    await assertRefused(call(FLEET, "POST", "/v1/watchers", watch("f-3")), 429, "TooManyRequests");
    await assertRefused(call(FLEET, "POST", "/v1/watchers", watch("n-a")), 409, "Conflict");
    await assertRefused(call(FLEET, "DELETE", "/v1/watchers/n-a"), 409, "Conflict");

    for (const node of ["n-a", "f-1", "f-2"])
      assert.equal((await call(ADMIN, "DELETE", `/v1/watchers/${node}`)).status, 200, node);
    assert.equal((await call(FLEET, "POST", "/v1/watchers", watch("f-3"))).status, 201, "slots freed");
    assert.equal((await call(FLEET, "DELETE", "/v1/watchers/f-3")).status, 200);
  });

  it("sweeps a silent watcher with its queue and subscriptions on the scheduled rule", async () => {
    const owner = `${NODE_ROLE}/silent-1`;
    const registered = await call(owner, "POST", "/v1/watchers", {
      node: "silent-1",
      zone: "zone-0",
      kinds: ["EndpointSlice"],
      zoneOnly: true,
    });
    assert.equal(registered.status, 201);
    const queueName = String(registered.body.queueUrl).split("/").at(-1) as string;
    const sns = new SNSClient({
      endpoint: runner.config.sns.endpoint,
      region: runner.config.region,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const subscribed = async () => {
      let count = 0;
      for (const [, topic] of runner.resources.topics) {
        const listed = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic.arn }));
        count += (listed.Subscriptions ?? []).filter((s) => s.Endpoint?.endsWith(`:${queueName}`)).length;
      }
      return count;
    };
    assert.equal(await subscribed(), 1);
    assert.equal(await sweep(), 0, "not yet expired");
    await sleep(Number(registered.body.expiresAtMs) - Date.now() + 200);
    assert.equal((await call(ADMIN, "GET", "/v1/watchers/silent-1")).status, 404);
    assert.equal(await sweep(), 1);
    await assert.rejects(runner.sqs.send(new GetQueueUrlCommand({ QueueName: queueName })));
    assert.equal(await subscribed(), 0);
    sns.destroy();
  });

  it("an agent stopped for longer than its queue's retention detects it, re-lists and converges", async () => {
    let offsetMs = 0;
    const agent = convergedAgent("outage-1", () => Date.now() + offsetMs);
    await agent.register();
    await agent.list();
    await changeCluster(41);
    await pollUntilDrained(agent, Date.now() + 20_000);
    assert.equal(agent.cache.digest(), await truthDigest(), "converged before the outage");

    // Stopped: changes flow to its queue, then expire there (purged: what retention does).
    await changeCluster(42);
    await runner.sqs.send(new PurgeQueueCommand({ QueueUrl: agent.registration?.queueUrl }));
    const truth = await truthDigest();
    assert.notEqual(agent.cache.digest(), truth, "the outage lost changes");
    offsetMs = ((agent.registration?.queueRetentionSeconds ?? 0) + 3600) * 1000;

    await pollUntilDrained(agent, Date.now() + 20_000);
    assert.equal(agent.stats.lastRecovery, "retention");
    assert.equal(agent.stats.recoveries, 1);
    assert.equal(agent.stats.relists, 1);
    assert.equal(agent.cache.digest(), truth, "converged to the API's state");
    assert.equal(await agent.deregister(), true);
  });

  it("an agent whose registration expired and was swept while it was down registers again and re-lists", async () => {
    const agent = convergedAgent("outage-2");
    const first = await agent.register();
    await agent.list();
    await pollUntilDrained(agent, Date.now() + 20_000);
    assert.equal(agent.cache.digest(), await truthDigest());

    await changeCluster(43);
    // Past the expiry by more than the Date header's one-second resolution the agent reads it with.
    await sleep(first.expiresAtMs - Date.now() + 1_200);
    assert.ok((await sweep()) >= 1, "the registration was swept");
    await assert.rejects(
      runner.sqs.send(new GetQueueUrlCommand({ QueueName: first.queueUrl.split("/").at(-1) as string })),
    );
    const truth = await truthDigest();
    assert.notEqual(agent.cache.digest(), truth);

    await pollUntilDrained(agent, Date.now() + 20_000);
    assert.equal(agent.stats.lastRecovery, "expired");
    assert.equal(agent.stats.relists, 1);
    assert.ok((agent.registration?.expiresAtMs ?? 0) > Date.now(), "registered again");
    assert.equal(agent.cache.digest(), truth);
    await changeCluster(44);
    await pollUntilDrained(agent, Date.now() + 20_000);
    assert.equal(agent.cache.digest(), await truthDigest(), "and follows changes on its new queue");
    assert.equal(await agent.deregister(), true);
  });
});
