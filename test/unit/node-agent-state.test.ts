/**
 * WatcherAgent's saved state (exportState / resume), deferred deletes and applied watermark,
 * against an in-memory API and queue: a resumed agent holds the same cache and applies the next
 * patch on the saved version without reading anything; it lists again when the saved state is past
 * the queue's retention or belongs to a registration that was replaced; messages stay on the queue
 * until flushDeletes; the watermark moves only when a receive finds the queue empty with nothing held.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import { itemPatch } from "#shared/fanout/slice-delta.ts";
import { WatcherAgent, type WatcherAgentState } from "#shared/watcher/watcher-agent.ts";
import { endpoint, endpointSlice } from "#test/support/watcher-objects.ts";

const QUEUE = "memory://queue/agent-1";
const version = (rv: number, ...pods: string[]) =>
  endpointSlice(
    "shop",
    "web-1",
    "web",
    rv,
    pods.map((pod, i) => endpoint("shop", { pod, ip: `10.0.0.${i + 1}` })),
  );

class World {
  slice: EndpointSlice = version(10, "a");
  queue: string[] = [];
  deleted: string[] = [];
  reads = 0;
  lists = 0;
  registeredAtMs = 1_000;
  nowMs = 10_000;
  #handles = 0;

  readonly sqs = {
    send: async (command: unknown) => {
      if (command instanceof ReceiveMessageCommand) {
        const bodies = this.queue.splice(0, 10);
        return { Messages: bodies.map((Body) => ({ Body, ReceiptHandle: `r-${this.#handles++}` })) };
      }
      if (command instanceof DeleteMessageBatchCommand) {
        for (const entry of command.input.Entries ?? []) this.deleted.push(entry.ReceiptHandle ?? "");
        return {};
      }
      throw new Error("unexpected command");
    },
  } as unknown as SQSClient;

  readonly fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
    if (init?.method === "POST" && url.pathname === "/v1/watchers")
      return json(201, {
        node: "agent-1",
        queueUrl: QUEUE,
        registeredAtMs: this.registeredAtMs,
        queueRetentionSeconds: 3600,
      });
    if (url.pathname === "/apis/discovery.k8s.io/v1/endpointslices") {
      this.lists++;
      return json(200, { metadata: { resourceVersion: "10" }, items: [this.slice] });
    }
    if (url.pathname === "/apis/cilium.io/v2/ciliumidentities")
      return json(200, { metadata: { resourceVersion: "10" }, items: [] });
    this.reads++;
    return json(200, this.slice);
  }) as typeof fetch;

  agent(): WatcherAgent {
    return new WatcherAgent({
      api: "http://api.test",
      node: "agent-1",
      kinds: ["EndpointSlice"],
      sqs: this.sqs,
      fetch: this.fetch,
      now: () => this.nowMs,
      deferDeletes: true,
    });
  }

  send(change: BundledChange): void {
    this.queue.push(JSON.stringify({ bundle: 1, scope: "EndpointSlice", changes: [change] }));
  }
}

function patchChange(before: EndpointSlice, after: EndpointSlice, sourceTimeMs: number): BundledChange {
  return {
    type: "MODIFIED",
    kind: "EndpointSlice",
    namespace: "shop",
    name: "web-1",
    resourceVersion: after.metadata.resourceVersion as string,
    previousResourceVersion: before.metadata.resourceVersion as string,
    sourceTimeMs,
    patch: itemPatch(before, after) as NonNullable<BundledChange["patch"]>,
  };
}

async function listedAgent(world: World): Promise<WatcherAgent> {
  const agent = world.agent();
  await agent.register();
  await agent.list();
  return agent;
}

/** What the state file holds: JSON, not the live objects. */
const throughJson = (state: WatcherAgentState): WatcherAgentState => JSON.parse(JSON.stringify(state));

describe("WatcherAgent state, deferred deletes and watermark", () => {
  it("resumes from a saved state without a list, and applies the next patch on the saved version", async () => {
    const world = new World();
    const first = await listedAgent(world);
    world.send(patchChange(version(10, "a"), version(11, "a", "b"), 5_000));
    await first.pollOnce(0);
    const state = throughJson(first.exportState());
    const digest = first.cache.digest();

    const second = world.agent();
    const outcome = await second.resume(state);
    assert.deepEqual(outcome, { resumed: true });
    assert.equal(second.cache.digest(), digest);
    world.send(patchChange(version(11, "a", "b"), version(12, "a", "b", "c"), 6_000));
    await second.pollOnce(0);
    assert.equal(second.stats.applied, 1);
    assert.equal(second.stats.gapsHeld, 0, "the patch found its base in the restored cache");
    assert.equal(world.lists, 1, "only the first agent listed");
    assert.equal(world.reads, 0);
    assert.equal(second.stats.objectsRead, 0);
  });

  it("keeps a held patch across the restart", async () => {
    const world = new World();
    const first = await listedAgent(world);
    world.send(patchChange(version(11, "a", "b"), version(12, "a", "b", "c"), 6_000));
    await first.pollOnce(0);
    assert.equal(first.heldGaps, 1);
    const second = world.agent();
    await second.resume(throughJson(first.exportState()));
    assert.equal(second.heldGaps, 1);
    world.send(patchChange(version(10, "a"), version(11, "a", "b"), 5_000));
    await second.pollOnce(0);
    assert.equal(second.heldGaps, 0);
    assert.equal(
      second.cache.resourceVersionOf({ kind: "EndpointSlice", namespace: "shop", name: "web-1" }),
      "12",
    );
  });

  it("lists again when the state is past the queue's retention, or its registration was replaced", async () => {
    const world = new World();
    const state = throughJson((await listedAgent(world)).exportState());
    world.nowMs = state.lastReceivedAtMs + 3600 * 1000;
    const late = world.agent();
    assert.deepEqual(await late.resume(state), { resumed: false, reason: "retention" });
    assert.equal(late.stats.relists, 1);

    world.nowMs = state.lastReceivedAtMs + 1000;
    world.registeredAtMs = 2_000;
    const replaced = world.agent();
    assert.deepEqual(await replaced.resume(state), { resumed: false, reason: "new-registration" });

    const other = new WatcherAgent({
      api: "http://api.test",
      node: "agent-1",
      kinds: ["EndpointSlice", "CiliumIdentity"],
      sqs: world.sqs,
      fetch: world.fetch,
      now: () => world.nowMs,
    });
    world.registeredAtMs = state.registeredAtMs;
    assert.deepEqual(await other.resume(state), { resumed: false, reason: "other-watcher" });
  });

  it("deletes received messages only on flushDeletes", async () => {
    const world = new World();
    const agent = await listedAgent(world);
    world.send(patchChange(version(10, "a"), version(11, "a", "b"), 5_000));
    await agent.pollOnce(0);
    assert.deepEqual(world.deleted, []);
    assert.equal(await agent.flushDeletes(), 1);
    assert.deepEqual(world.deleted, ["r-0"]);
    assert.equal(await agent.flushDeletes(), 0);
  });

  it("moves the watermark only when a receive finds the queue empty with nothing held", async () => {
    const world = new World();
    const agent = await listedAgent(world);
    world.send(patchChange(version(10, "a"), version(11, "a", "b"), 5_000));
    await agent.pollOnce(0);
    assert.equal(agent.appliedThroughMs, undefined, "a receive that brought messages proves nothing");
    await agent.pollOnce(0);
    assert.equal(agent.appliedThroughMs, 5_000);
    world.send(patchChange(version(12, "a", "b", "c"), version(13, "a"), 7_000));
    await agent.pollOnce(0);
    assert.equal(agent.heldGaps, 1);
    await agent.pollOnce(0);
    assert.equal(agent.appliedThroughMs, 5_000, "a held patch keeps it");
  });
});
