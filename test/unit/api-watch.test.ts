/**
 * Kubernetes watch on the read API (docs/watch.md): list resourceVersion semantics, 410 Expired,
 * selectors that stop matching, bookmarks, long poll vs stream, over an in-memory change log fed
 * the way the fan-out feeds it (changeLogEntry of each object change).
 */
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { MemoryChangeLog } from "#shared/api/memory-change-log.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { type ApiRequest, type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { CHANGE_LOG_RETENTION_MS, changeLogEntry } from "#shared/fanout/change-log.ts";
import { apiFixture, FIXTURE_TIME_MS } from "#test/support/api-fixture.ts";

// biome-ignore lint/suspicious/noExplicitAny: watch lines are inspected freely
type Line = { type: string; object: any };

let clock: number;
let log: MemoryChangeLog;
let router: ApiRouter;
let slices: EndpointSlice[];

beforeEach(async () => {
  const fixture = await apiFixture();
  clock = FIXTURE_TIME_MS + 60_000;
  log = new MemoryChangeLog(() => clock);
  const reader = new MemorySliceReader(fixture.store, { now: () => clock });
  router = createApiRouter({
    reader,
    now: () => clock,
    watch: {
      log,
      pollIntervalMs: 1_000,
      // The fake sleep is the clock: a watch waits by moving time on.
      sleep: async (ms) => {
        clock += Math.max(ms, 1);
      },
    },
  });
  const list = await reader.list("EndpointSlice", "shop");
  slices = list.items as EndpointSlice[];
});

/** An object changed at `atMs`, as the fan-out logs it: new version µs of that time. */
async function change(before: OutputObject | undefined, after: OutputObject | undefined, atMs: number) {
  const stamped =
    after === undefined
      ? undefined
      : ({ ...after, metadata: { ...after.metadata, resourceVersion: String(atMs * 1000) } } as OutputObject);
  const kind = (after ?? before)?.kind ?? "EndpointSlice";
  await log.append([changeLogEntry({ kind, before, after: stamped, sourceTimeMs: atMs }, atMs)], atMs);
  return stamped;
}

async function watch(
  path: string,
  init: Partial<ApiRequest> = {},
): Promise<{ status: number; lines: Line[] }> {
  const url = new URL(path, "http://api.test");
  const response = await router({ method: "GET", path: url.pathname, query: url.searchParams, ...init });
  let text = response.body;
  for await (const chunk of response.chunks ?? []) text += chunk;
  const lines = text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Line);
  return { status: response.status, lines };
}

function relabel(slice: EndpointSlice, labels: Record<string, string>): EndpointSlice {
  return { ...slice, metadata: { ...slice.metadata, labels: { ...slice.metadata.labels, ...labels } } };
}

const BASE = "/apis/discovery.k8s.io/v1";

describe("watch on the lists", () => {
  it("serves watch=true, watch=1 and watch=True instead of 405", async () => {
    // "True": the Python client's spelling (Go's ParseBool accepts it).
    for (const flag of ["true", "1", "True"]) {
      const { status } = await watch(`${BASE}/namespaces/shop/endpointslices?watch=${flag}&timeoutSeconds=1`);
      assert.equal(status, 200);
    }
  });

  it("a list's resourceVersion starts a watch: changes after it, none before", async () => {
    const first = slices[0] as EndpointSlice;
    const second = slices[1] as EndpointSlice;
    // A change 20 s before the list: older than the replay margin.
    await change(first, relabel(first, { early: "yes" }), clock - 20_000);
    const listed = JSON.parse((await router({ method: "GET", path: `${BASE}/endpointslices` })).body);
    const listVersion = listed.metadata.resourceVersion as string;
    clock += 2_000;
    const later = await change(second, relabel(second, { late: "yes" }), clock);
    const { lines } = await watch(`${BASE}/endpointslices?watch=true&resourceVersion=${listVersion}`);
    assert.deepEqual(
      lines.map((l) => [l.type, l.object.metadata.name, l.object.metadata.resourceVersion]),
      [["MODIFIED", second.metadata.name, later?.metadata.resourceVersion]],
    );
  });

  it("answers 410 Expired for a version older than the retention", async () => {
    const old = String((clock - CHANGE_LOG_RETENTION_MS - 1_000) * 1000);
    const url = new URL(`${BASE}/endpointslices?watch=true&resourceVersion=${old}`, "http://api.test");
    const response = await router({ method: "GET", path: url.pathname, query: url.searchParams });
    assert.equal(response.status, 410);
    const status = JSON.parse(response.body);
    assert.equal(status.reason, "Expired");
    assert.equal(status.code, 410);
  });

  it("resourceVersion 0 starts with the current state as ADDED, then follows without repeating it", async () => {
    const first = slices[0] as EndpointSlice;
    // Its creation is logged inside the replay margin of the watch's start: the initial state has it.
    clock = FIXTURE_TIME_MS + 2_000;
    await log.append(
      [changeLogEntry({ kind: "EndpointSlice", before: undefined, after: first, sourceTimeMs: 0 }, 0)],
      clock,
    );
    const url = `${BASE}/namespaces/shop/endpointslices?watch=true&resourceVersion=0&timeoutSeconds=3`;
    const pending = watch(url, { watchMode: "stream" });
    const { lines } = await pending;
    assert.deepEqual(
      lines.map((l) => l.type),
      slices.map(() => "ADDED"),
    );
    assert.deepEqual(
      lines.map((l) => l.object.metadata.name),
      slices.map((s) => s.metadata.name),
    );
  });

  it("a selector watch sees DELETED when an object stops matching and ADDED when it starts", async () => {
    const first = slices[0] as EndpointSlice;
    const from = String(clock * 1000);
    clock += 1_000;
    const tagged = await change(first, relabel(first, { watched: "yes" }), clock);
    clock += 1_000;
    await change(tagged, relabel(first, { watched: "no" }), clock);
    const { lines } = await watch(
      `${BASE}/endpointslices?watch=true&resourceVersion=${from}&labelSelector=watched%3Dyes`,
      {
        watchMode: "stream",
        deadlineMs: clock + 1,
      },
    );
    assert.deepEqual(
      lines.map((l) => [l.type, l.object.metadata.name]),
      [
        ["ADDED", first.metadata.name],
        ["DELETED", first.metadata.name],
      ],
    );
  });

  it("reports deletions with a version above the deleted object's, and filters by namespace", async () => {
    const first = slices[0] as EndpointSlice;
    const from = String(clock * 1000);
    clock += 1_000;
    await change(first, undefined, clock);
    const other = { ...first, metadata: { ...first.metadata, namespace: "payments" } };
    await change(other, undefined, clock);
    const { lines } = await watch(
      `${BASE}/namespaces/shop/endpointslices?watch=true&resourceVersion=${from}`,
    );
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.type, "DELETED");
    assert.equal(lines[0]?.object.metadata.namespace, "shop");
    assert.ok(
      BigInt(lines[0]?.object.metadata.resourceVersion) > BigInt(first.metadata.resourceVersion ?? "0"),
    );
  });

  it("a long poll ends with a BOOKMARK at the latest version when bookmarks are allowed", async () => {
    const first = slices[0] as EndpointSlice;
    const from = String(clock * 1000);
    clock += 1_000;
    const changed = await change(first, relabel(first, { x: "1" }), clock);
    const { lines } = await watch(
      `${BASE}/endpointslices?watch=true&allowWatchBookmarks=true&resourceVersion=${from}`,
    );
    assert.deepEqual(
      lines.map((l) => l.type),
      ["MODIFIED", "BOOKMARK"],
    );
    assert.equal(lines[1]?.object.metadata.resourceVersion, changed?.metadata.resourceVersion);
  });

  it("a long poll with nothing to say ends at its timeout; a stream goes on until then", async () => {
    const from = String(clock * 1000);
    const started = clock;
    const { lines } = await watch(
      `${BASE}/endpointslices?watch=true&resourceVersion=${from}&timeoutSeconds=7`,
    );
    assert.deepEqual(lines, []);
    assert.ok(clock - started >= 7_000);
  });

  it("rejects a malformed resourceVersion with 400", async () => {
    const { status } = await watch(`${BASE}/endpointslices?watch=true&resourceVersion=abc`);
    assert.equal(status, 400);
  });
});
