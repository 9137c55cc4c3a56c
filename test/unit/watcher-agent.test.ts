/**
 * WatcherAgent's delivery handling against an in-memory API (fetch) and queue (SQS send): a gap is
 * held for its grace and filled by the missing change without a read; a gap whose grace runs out
 * re-reads only that object; references are read at once; a 404 deletes. A zone-only agent applies
 * zone-view patches on their base's content, across versions it never saw, and re-reads (cut to
 * its zone) when its copy's content is not the base.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange, ChangeBundle } from "#shared/fanout/change-bundle.ts";
import { zoneScope } from "#shared/fanout/change-routing.ts";
import { bundledChangesOf, itemPatch } from "#shared/fanout/slice-delta.ts";
import { type AppliedTiming, WatcherAgent, type WatcherAgentOptions } from "#shared/watcher/watcher-agent.ts";
import { refOf } from "#shared/watcher/watcher-cache.ts";
import { endpoint, endpointSlice } from "#test/support/watcher-objects.ts";

const QUEUE = "memory://queue/agent-1";

class FakeWorld {
  readonly objects = new Map<string, OutputObject>();
  readonly queue: string[] = [];
  /** When each queued body entered the queue (SentTimestamp). */
  readonly sentAt: number[] = [];
  readonly deleted: string[] = [];
  readonly gets: string[] = [];
  /** WaitTimeSeconds of every ReceiveMessage. */
  readonly waits: number[] = [];
  /** MessageSystemAttributeNames of every ReceiveMessage. */
  readonly systemAttributes: Array<readonly string[] | undefined> = [];
  nowMs = 0;

  readonly sqs = {
    send: async (command: unknown) => {
      if (command instanceof ReceiveMessageCommand) {
        this.waits.push(command.input.WaitTimeSeconds ?? 0);
        this.systemAttributes.push(command.input.MessageSystemAttributeNames);
        const bodies = this.queue.splice(0, command.input.MaxNumberOfMessages ?? 1);
        const sentAt = this.sentAt.splice(0, bodies.length);
        const withSent = command.input.MessageSystemAttributeNames?.includes("SentTimestamp") === true;
        return {
          Messages: bodies.map((Body, i) => ({
            Body,
            ReceiptHandle: `r-${this.deleted.length}-${i}`,
            ...(withSent ? { Attributes: { SentTimestamp: String(sentAt[i]) } } : {}),
          })),
        };
      }
      if (command instanceof DeleteMessageBatchCommand) {
        for (const entry of command.input.Entries ?? []) this.deleted.push(entry.ReceiptHandle ?? "");
        return { Successful: [], Failed: [] };
      }
      throw new Error("unexpected command");
    },
  } as unknown as SQSClient;

  readonly fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    if (method === "POST" && url.pathname === "/v1/watchers") return json(201, { queueUrl: QUEUE });
    if (url.pathname === "/apis/discovery.k8s.io/v1/endpointslices") {
      const items = [...this.objects.values()];
      return json(200, { kind: "EndpointSliceList", metadata: { resourceVersion: "10" }, items });
    }
    const match = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices\/([^/]+)$/.exec(
      url.pathname,
    );
    if (match !== null) {
      this.gets.push(`${match[1]}/${match[2]}`);
      const object = this.objects.get(`${match[1]}/${match[2]}`);
      return object === undefined
        ? json(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 })
        : json(200, object);
    }
    return json(404, { kind: "Status", reason: "NotFound", code: 404 });
  }) as typeof fetch;

  agent(options: Partial<WatcherAgentOptions> = {}): WatcherAgent {
    return new WatcherAgent({
      api: "http://api.test",
      node: "agent-1",
      kinds: ["EndpointSlice"],
      sqs: this.sqs,
      fetch: this.fetch,
      now: () => this.nowMs,
      gapGraceMs: 1000,
      ...options,
    });
  }

  put(slice: EndpointSlice): void {
    this.objects.set(`${slice.metadata.namespace}/${slice.metadata.name}`, slice);
  }

  send(...changes: BundledChange[]): void {
    const bundle: ChangeBundle = { bundle: 1, scope: "EndpointSlice", changes };
    this.queue.push(JSON.stringify(bundle));
    this.sentAt.push(this.nowMs);
  }
}

const version = (rv: number, ...pods: string[]) =>
  endpointSlice(
    "shop",
    "web-1",
    "web",
    rv,
    pods.map((pod, i) => endpoint("shop", { pod, ip: `10.0.0.${i + 1}` })),
  );

function patchChange(before: EndpointSlice, after: EndpointSlice, sourceTimeMs: number): BundledChange {
  const patch = itemPatch(before, after);
  assert.ok(patch !== undefined);
  return {
    type: "MODIFIED",
    kind: "EndpointSlice",
    namespace: "shop",
    name: "web-1",
    resourceVersion: after.metadata.resourceVersion as string,
    previousResourceVersion: before.metadata.resourceVersion as string,
    sourceTimeMs,
    patch,
  };
}

const WEB = refOf("EndpointSlice", "shop", "web-1");
const v10 = version(10, "a");
const v11 = version(11, "a", "b");
const v12 = version(12, "a", "b", "c");

async function started(world: FakeWorld): Promise<WatcherAgent> {
  world.put(v10);
  const agent = world.agent();
  await agent.register();
  await agent.list();
  assert.equal(agent.cache.resourceVersionOf(WEB), "10");
  return agent;
}

describe("WatcherAgent deliveries", () => {
  it("holds a patch on an unseen base and applies it when the missing change arrives in its grace", async () => {
    const world = new FakeWorld();
    const agent = await started(world);
    world.send(patchChange(v11, v12, 5));
    world.nowMs = 100;
    await agent.pollOnce(0);
    assert.equal(agent.heldGaps, 1);
    assert.equal(agent.stats.applied, 0);
    world.send(patchChange(v10, v11, 3));
    world.nowMs = 400;
    await agent.pollOnce(0);
    assert.equal(agent.heldGaps, 0);
    assert.deepEqual(agent.cache.get(WEB), v12);
    assert.deepEqual(world.gets, [], "no re-read");
    assert.equal(agent.stats.applied, 2);
    assert.equal(agent.stats.gapsRefetched, 0);
    assert.equal(agent.stats.messages, 2);
    assert.equal(world.deleted.length, 2, "every received message is deleted");
    // Latency of the later-applied held patch: source time 3, applied at 400 (HDR: within 0.1%).
    assert.ok(Math.abs(agent.latency.summary().maxMs - 397) < 0.5, String(agent.latency.summary().maxMs));
  });

  it("reports each change applied from a message with its source, enqueue, receive and apply times", async () => {
    const world = new FakeWorld();
    world.put(v10);
    const timings: AppliedTiming[] = [];
    const agent = world.agent({ onApplied: (timing) => timings.push(timing) });
    await agent.register();
    await agent.list();
    world.nowMs = 50;
    world.send(patchChange(v10, v11, 20), patchChange(v11, v12, 30));
    world.nowMs = 80;
    await agent.pollOnce(0);
    assert.deepEqual(timings, [
      { sourceTimeMs: 20, enqueuedAtMs: 50, receivedAtMs: 80, appliedAtMs: 80 },
      { sourceTimeMs: 30, enqueuedAtMs: 50, receivedAtMs: 80, appliedAtMs: 80 },
    ]);
    assert.equal(agent.stats.applied, 2);
    // Without the option the agent asks for no system attributes (a receive as before).
    const plain = world.agent();
    await plain.register();
    await plain.pollOnce(0);
    assert.deepEqual(world.systemAttributes, [["SentTimestamp"], undefined]);
  });

  it("a held gap shortens the long poll to its grace, so a quiet queue does not delay the re-read", async () => {
    const world = new FakeWorld();
    const agent = await started(world);
    world.send(patchChange(v11, v12, 0));
    world.nowMs = 100;
    await agent.pollOnce(20);
    assert.equal(agent.heldGaps, 1);
    world.nowMs = 300;
    await agent.pollOnce(20);
    world.objects.set("shop/web-1", v12);
    world.nowMs = 1100;
    await agent.pollOnce(20);
    assert.deepEqual(world.gets, ["shop/web-1"]);
    assert.deepEqual(world.waits, [20, 1, 20], "the grace ends at 1100: wake by then, then wait in full");
  });

  it("forgets held gaps with the cache, as a crashed agent does", async () => {
    const world = new FakeWorld();
    const agent = await started(world);
    world.send(patchChange(v11, v12, 0));
    await agent.pollOnce(0);
    assert.equal(agent.heldGaps, 1);
    agent.forget();
    assert.equal(agent.heldGaps, 0);
    assert.equal(agent.cache.get(WEB), undefined);
  });

  it("re-reads only the object whose held patch waited out its grace, then applies newer patches on it", async () => {
    const world = new FakeWorld();
    const agent = await started(world);
    const v13 = version(13, "a", "b", "c", "d");
    world.put(version(99, "z"));
    world.objects.set("shop/web-1", v12);
    world.send(patchChange(v11, v12, 0));
    await agent.pollOnce(0);
    world.nowMs = 999;
    await agent.pollOnce(0);
    assert.deepEqual(world.gets, [], "still within grace");
    world.nowMs = 1000;
    world.send(patchChange(v12, v13, 900));
    await agent.pollOnce(0);
    assert.deepEqual(world.gets, ["shop/web-1"]);
    assert.equal(agent.stats.gapsRefetched, 1);
    assert.deepEqual(agent.cache.get(WEB), v13);
    assert.equal(agent.stats.applied, 2);
    // What the agent read from the API: the list (web-1 at 10), then the one GET of the gap.
    assert.equal(agent.stats.objectsRead, 1 + 1);
    assert.equal(agent.stats.bytesRead > Buffer.byteLength(JSON.stringify(v12)), true);
  });

  it("holds a reference the read has not reached yet and reads it again after the grace, not in a loop", async () => {
    const world = new FakeWorld();
    const agent = await started(world);
    world.queue.push(
      JSON.stringify({
        type: "MODIFIED",
        kind: "EndpointSlice",
        resourceVersion: "12",
        sourceTimeMs: 0,
        reference: { name: "web-1", namespace: "shop" },
      }),
    );
    await agent.pollOnce(0);
    assert.deepEqual(world.gets, ["shop/web-1"], "one read, answered with version 10");
    assert.equal(agent.heldGaps, 1);
    world.objects.set("shop/web-1", v12);
    world.nowMs = 1000;
    await agent.pollOnce(0);
    assert.deepEqual(world.gets, ["shop/web-1", "shop/web-1"]);
    assert.deepEqual(agent.cache.get(WEB), v12);
    assert.equal(agent.heldGaps, 0);
  });

  it("reads a reference at once, treats a 404 as deleted, and counts a malformed body", async () => {
    const world = new FakeWorld();
    const agent = await started(world);
    world.objects.delete("shop/web-1");
    world.queue.push(
      JSON.stringify({
        type: "MODIFIED",
        kind: "EndpointSlice",
        resourceVersion: "15",
        sourceTimeMs: 0,
        reference: { name: "web-1", namespace: "shop" },
      }),
    );
    world.queue.push("{ not json");
    await agent.pollOnce(0);
    assert.equal(agent.cache.get(WEB), undefined);
    assert.equal(agent.stats.referencesFetched, 1);
    assert.equal(agent.stats.malformed, 1);
    assert.equal(world.deleted.length, 2);
    world.send({ ...patchChange(v10, v11, 0) });
    await agent.pollOnce(0);
    assert.equal(agent.stats.duplicates, 1, "older than the deletion");
  });

  it("after a re-list, a late ADDED of an object deleted before the list is read, not applied; one the list missed is", async () => {
    const world = new FakeWorld();
    const agent = await started(world);
    // Before the restart: db-1 was created at 8 and deleted at 9; the agent applied the DELETED,
    // and the ADDED, reordered behind it, is still on the queue when the agent re-lists.
    const db = endpointSlice("shop", "db-1", "db", 8, [endpoint("shop", { pod: "d1", ip: "10.1.0.1" })]);
    const added = (slice: EndpointSlice): BundledChange => ({
      type: "ADDED",
      kind: "EndpointSlice",
      namespace: "shop",
      name: slice.metadata.name,
      resourceVersion: slice.metadata.resourceVersion as string,
      sourceTimeMs: 0,
      object: slice,
    });
    await agent.relist();
    // cache-1 was written at 9, after the list's pages were read (the list answered 10).
    const cache = endpointSlice("shop", "cache-1", "cache", 9, [
      endpoint("shop", { pod: "c1", ip: "10.2.0.1" }),
    ]);
    world.put(cache);
    world.send(added(db), added(cache));
    await agent.pollOnce(0);
    assert.equal(agent.cache.get(refOf("EndpointSlice", "shop", "db-1")), undefined, "not resurrected");
    assert.deepEqual(agent.cache.get(refOf("EndpointSlice", "shop", "cache-1")), cache);
    assert.deepEqual(world.gets, ["shop/db-1", "shop/cache-1"]);
    assert.equal(agent.stats.unlistedFetched, 2);
    // Newer than the list: applied as it comes, no read.
    world.send(added(endpointSlice("shop", "new-1", "new", 11, [])));
    await agent.pollOnce(0);
    assert.equal(agent.cache.resourceVersionOf(refOf("EndpointSlice", "shop", "new-1")), "11");
    assert.equal(world.gets.length, 2);
  });

  // As the fan-out sends them (both bases), and as a patch names its base alone: the sum (a later
  // fan-out) or the earlier digest (a fan-out from before baseViewSum, during an upgrade).
  const baseForms: ReadonlyArray<readonly [string, (change: BundledChange) => BundledChange]> = [
    ["both bases", (change) => change],
    ["baseViewSum alone", ({ baseDigest: _, ...change }) => change],
    ["baseDigest alone", ({ baseViewSum: _, ...change }) => change],
  ];
  for (const [form, named] of baseForms)
    it(`a zone-only agent patches its zone view across unseen versions, holds a reordered patch, re-reads a wrong base (${form})`, async () => {
      const world = new FakeWorld();
      const agent = new WatcherAgent({
        api: "http://api.test",
        node: "agent-a",
        zone: "a",
        zoneOnly: true,
        kinds: ["EndpointSlice"],
        sqs: world.sqs,
        fetch: world.fetch,
        now: () => world.nowMs,
        gapGraceMs: 1000,
      });
      const pod = (name: string, zone: string, ip: number, ready = true) =>
        endpoint("shop", { pod: name, ip: `10.0.0.${ip}`, zone, ready, node: `node-${zone}` });
      const at = (rv: number, ...endpoints: ReturnType<typeof pod>[]) =>
        endpointSlice("shop", "web-1", "web", rv, endpoints);
      const cut = (slice: EndpointSlice): EndpointSlice => ({
        ...slice,
        endpoints: slice.endpoints.filter((e) => e.zone === "a"),
      });
      const versions = [
        at(10, pod("a1", "a", 1), pod("b1", "b", 2)),
        at(11, pod("a1", "a", 1), pod("b1", "b", 2, false)),
        at(12, pod("a1", "a", 1), pod("b1", "b", 2, false), pod("a2", "a", 3)),
        at(13, pod("a1", "a", 1, false), pod("b1", "b", 2, false), pod("a2", "a", 3)),
        at(14, pod("a1", "a", 1, false), pod("b1", "b", 2, false), pod("a2", "a", 3, false)),
        at(15, pod("a1", "a", 4, false), pod("b1", "b", 2, false), pod("a2", "a", 3, false)),
        at(16, pod("a1", "a", 4, false), pod("b1", "b", 2, false), pod("a2", "a", 5, false)),
      ] as const;
      const zoneChange = (index: number): BundledChange | undefined => {
        const change = bundledChangesOf(
          { kind: "EndpointSlice", before: versions[index - 1], after: versions[index], sourceTimeMs: index },
          ["a", "b"],
        ).find((s) => s.scope === zoneScope("a"))?.change;
        return change === undefined ? undefined : named(change);
      };
      world.put(versions[0]);
      await agent.register();
      await agent.list();
      assert.deepEqual(agent.cache.get(WEB), cut(versions[0]));

      // v11 touched zone b only: no zone-a message; v12's patch names v11 but applies on v10's view.
      assert.equal(zoneChange(1), undefined);
      const v12 = zoneChange(2);
      assert.ok(v12?.patch !== undefined && (v12.baseViewSum !== undefined || v12.baseDigest !== undefined));
      assert.equal(v12.previousResourceVersion, "11");
      world.send(v12);
      await agent.pollOnce(0);
      assert.deepEqual(agent.cache.get(WEB), cut(versions[2]));

      // v14's patch before v13's: held, then applied when v13 lands; no read.
      world.send(zoneChange(4) as BundledChange);
      await agent.pollOnce(0);
      assert.equal(agent.heldGaps, 1);
      world.send(zoneChange(3) as BundledChange);
      world.nowMs = 500;
      await agent.pollOnce(0);
      assert.equal(agent.heldGaps, 0);
      assert.deepEqual(agent.cache.get(WEB), cut(versions[4]));
      assert.deepEqual(world.gets, []);
      assert.equal(agent.stats.applied, 3);

      // v15's change is lost: v16's patch never finds its base; after the grace the slice is read
      // and cut to the zone.
      world.put(versions[6]);
      world.send(zoneChange(6) as BundledChange);
      world.nowMs = 600;
      await agent.pollOnce(0);
      assert.equal(agent.heldGaps, 1);
      assert.deepEqual(agent.cache.get(WEB), cut(versions[4]), "never patched onto the wrong base");
      world.nowMs = 1600;
      await agent.pollOnce(0);
      assert.deepEqual(world.gets, ["shop/web-1"]);
      assert.equal(agent.stats.gapsRefetched, 1);
      assert.deepEqual(agent.cache.get(WEB), cut(versions[6]));
    });
});

describe("WatcherAgent outages", () => {
  /** The world's API plus a watcher registry with a 60 s TTL, on the world's clock (its Date header). */
  function withRegistry(world: FakeWorld) {
    const server = { registered: false, expiresAtMs: 0, posts: 0, gets: 0, queueGone: false };
    const answer = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json", date: new Date(world.nowMs).toUTCString() },
      });
    const registration = () => ({
      node: "agent-1",
      kinds: ["EndpointSlice"],
      zoneOnly: false,
      queueUrl: QUEUE,
      registeredAtMs: 0,
      expiresAtMs: server.expiresAtMs,
      queueRetentionSeconds: 3600,
    });
    const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input));
      if (url.pathname === "/v1/watchers" && init?.method === "POST") {
        server.posts++;
        server.registered = true;
        server.expiresAtMs = world.nowMs + 60_000;
        return answer(201, registration());
      }
      if (url.pathname === "/v1/watchers/agent-1" && (init?.method ?? "GET") === "GET") {
        server.gets++;
        if (!server.registered || world.nowMs >= server.expiresAtMs)
          return answer(404, { kind: "Status", reason: "NotFound", code: 404 });
        server.expiresAtMs = world.nowMs + 60_000;
        return answer(200, registration());
      }
      return world.fetch(input, init);
    }) as typeof globalThis.fetch;
    const sqs = {
      send: async (command: unknown) => {
        if (server.queueGone && command instanceof ReceiveMessageCommand) {
          server.queueGone = false;
          throw Object.assign(new Error("The specified queue does not exist."), {
            name: "QueueDoesNotExist",
          });
        }
        return world.sqs.send(command as never);
      },
    } as unknown as SQSClient;
    const agent = new WatcherAgent({
      api: "http://api.test",
      node: "agent-1",
      kinds: ["EndpointSlice"],
      sqs,
      fetch,
      now: () => world.nowMs,
      outageMarginMs: 60_000,
    });
    return { server, agent };
  }

  it("heartbeats a third of the way to its expiry, and recovers from every outage signal with a re-list", async () => {
    const world = new FakeWorld();
    world.put(v10);
    const { server, agent } = withRegistry(world);
    await agent.register();
    await agent.list();

    world.nowMs = 10_000;
    await agent.pollOnce(0);
    assert.equal(server.gets, 0, "not due yet");
    world.nowMs = 21_000;
    await agent.pollOnce(0);
    assert.deepEqual([server.gets, agent.stats.heartbeats, agent.stats.recoveries], [1, 1, 0]);

    // Swept behind its back: the next heartbeat reads 404.
    server.registered = false;
    world.put(v11);
    world.nowMs = 42_000;
    await agent.pollOnce(0);
    assert.deepEqual([agent.stats.lastRecovery, agent.stats.relists, server.posts], ["unregistered", 1, 2]);
    assert.equal(agent.cache.resourceVersionOf(WEB), "11", "re-listed");

    // Silent past its expiry (but within the retention): registers again before receiving.
    world.nowMs = 42_000 + 61_000;
    await agent.pollOnce(0);
    assert.deepEqual([agent.stats.lastRecovery, agent.stats.relists], ["expired", 2]);

    // Silent past the queue's retention: what it missed may be gone from the queue.
    world.put(v12);
    world.nowMs += 3_600_000;
    await agent.pollOnce(0);
    assert.deepEqual([agent.stats.lastRecovery, agent.stats.relists], ["retention", 3]);
    assert.equal(agent.cache.resourceVersionOf(WEB), "12");

    // Its queue deleted under it while polling.
    server.queueGone = true;
    world.nowMs += 1_000;
    await agent.pollOnce(0);
    assert.deepEqual([agent.stats.lastRecovery, agent.stats.recoveries], ["queue-gone", 4]);
    world.nowMs += 1_000;
    await agent.pollOnce(0);
    assert.equal(agent.stats.recoveries, 4, "recovered for good");
  });
});
