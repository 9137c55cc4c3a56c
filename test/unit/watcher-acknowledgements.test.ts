/**
 * Acknowledgements (POST /v1/watchers/{node}/applied) and the fleet convergence in /v1/stats:
 * owner-only, 404 for an unknown node, 400 for a bad body; watermarks kept monotonic and bounded;
 * the convergence's watermark, oldest node and latency by its definition (shared/api/convergence.ts).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { fleetConvergence } from "#shared/api/convergence.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { createApiRouter } from "#shared/api/router.ts";
import type { WatcherAuthorizationPolicy } from "#shared/api/watcher-authorization.ts";
import {
  MemoryWatcherRegistry,
  WATCHER_ACKS_KEPT,
  type WatcherApplied,
  withAck,
} from "#shared/api/watcher-registry.ts";
import { type ApiFixture, apiFixture } from "#test/support/api-fixture.ts";

const NODE_ROLE = "arn:aws:sts::000000000000:assumed-role/sliceline-node";
const POLICY: WatcherAuthorizationPolicy = {
  mode: "principal",
  nodePrincipals: [`${NODE_ROLE}/{node}`],
  adminPrincipals: ["arn:aws:iam::000000000000:role/admin"],
  capPerCaller: 5,
};
let fixture: ApiFixture;
before(async () => {
  fixture = await apiFixture();
});

function setup() {
  let now = 1_000;
  const lags: number[] = [];
  const registry = new MemoryWatcherRegistry({ now: () => now, ttlSeconds: 600 });
  const route = createApiRouter({
    reader: new MemorySliceReader(fixture.store),
    watchers: registry,
    watcherAuthorization: POLICY,
    now: () => now,
    onWatcherApplied: (_node, lag) => lags.push(lag),
  });
  const as = async (node: string | undefined, method: string, path: string, payload?: unknown) => {
    const response = await route({
      method,
      path,
      callerArn: node === undefined ? undefined : node.startsWith("arn:") ? node : `${NODE_ROLE}/${node}`,
      ...(payload === undefined
        ? {}
        : { body: typeof payload === "string" ? payload : JSON.stringify(payload) }),
    });
    return { status: response.status, body: JSON.parse(response.body) };
  };
  const stats = async () => (await as(undefined, "GET", "/v1/stats")).body.convergence;
  return { as, stats, lags, setNow: (ms: number) => (now = ms) };
}

describe("POST /v1/watchers/{node}/applied", () => {
  it("records the owner's watermark, refuses others, unknown nodes and bad bodies", async () => {
    const { as, lags, setNow } = setup();
    assert.equal(
      (await as("n1", "POST", "/v1/watchers", { node: "n1", kinds: ["EndpointSlice"] })).status,
      201,
    );
    setNow(5_000);
    const acked = await as("n1", "POST", "/v1/watchers/n1/applied", { appliedThroughMs: 4_000 });
    assert.equal(acked.status, 200);
    assert.deepEqual(acked.body.acks, [{ appliedThroughMs: 4_000, atMs: 5_000 }]);
    assert.deepEqual(lags, [1_000], "the metric hook hears the lag");
    assert.equal(
      (await as("n2", "POST", "/v1/watchers/n1/applied", { appliedThroughMs: 4_500 })).status,
      403,
    );
    assert.equal(
      (
        await as("arn:aws:iam::000000000000:role/admin", "POST", "/v1/watchers/n1/applied", {
          appliedThroughMs: 4_500,
        })
      ).status,
      409,
      "an admin may not acknowledge for a node",
    );
    assert.equal((await as("n3", "POST", "/v1/watchers/n3/applied", { appliedThroughMs: 1 })).status, 404);
    for (const bad of [
      "{",
      { appliedThroughMs: -1 },
      { appliedThroughMs: "1" },
      { appliedThroughMs: 1, extra: 1 },
    ])
      assert.equal((await as("n1", "POST", "/v1/watchers/n1/applied", bad)).status, 400, JSON.stringify(bad));
    assert.equal((await as("n1", "GET", "/v1/watchers/n1/applied")).status, 405);
    const older = await as("n1", "POST", "/v1/watchers/n1/applied", { appliedThroughMs: 3_000 });
    assert.equal(older.body.acks.length, 1, "an older watermark does not enter the history");
  });

  it("serves the convergence in /v1/stats: watermark once every node acknowledged, oldest node, latency", async () => {
    const { as, stats, setNow } = setup();
    for (const node of ["n1", "n2"])
      await as(node, "POST", "/v1/watchers", { node, kinds: ["EndpointSlice"] });
    setNow(10_000);
    await as("n1", "POST", "/v1/watchers/n1/applied", { appliedThroughMs: 9_000 });
    let convergence = await stats();
    assert.equal(convergence.watermarkMs, null, "n2 has not acknowledged");
    assert.equal(convergence.latency, null);
    setNow(12_000);
    await as("n2", "POST", "/v1/watchers/n2/applied", { appliedThroughMs: 9_500 });
    convergence = await stats();
    assert.equal(convergence.nodes, 2);
    assert.equal(convergence.acknowledged, 2);
    assert.equal(convergence.watermarkMs, 9_000);
    assert.deepEqual(convergence.oldest, { node: "n1", appliedThroughMs: 9_000, ageMs: 3_000 });
    // s = 9000: n1 at 10000, n2 at 12000 -> 3000. s = 9500: n1 has not passed it -> no sample.
    assert.deepEqual(convergence.latency, { samples: 1, p50Ms: 3_000, p99Ms: 3_000, maxMs: 3_000 });
  });
});

describe("fleetConvergence", () => {
  it("skips nodes registered after a source time, and samples older than a node's kept history", () => {
    const nodes: WatcherApplied[] = [
      { node: "old", registeredAtMs: 0, acks: [{ appliedThroughMs: 100, atMs: 150 }], ackCount: 1 },
      { node: "new", registeredAtMs: 120, acks: [{ appliedThroughMs: 130, atMs: 400 }], ackCount: 1 },
    ];
    // s = 100: "new" was not registered -> converged at 150. s = 130: "old" never passed it.
    assert.deepEqual(fleetConvergence(nodes, 500).latency, { samples: 1, p50Ms: 50, p99Ms: 50, maxMs: 50 });
    const truncated = [{ ...(nodes[0] as WatcherApplied), ackCount: 40 }];
    assert.equal(fleetConvergence(truncated, 500).latency, null);
  });

  it("is a latency no smaller than the slowest node's first passing ack, per sample (property)", () => {
    const ackArbitrary = fc.array(
      fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 50 })),
      {
        minLength: 1,
        maxLength: 8,
      },
    );
    fc.assert(
      fc.property(fc.array(ackArbitrary, { minLength: 1, maxLength: 4 }), (fleet) => {
        const nodes: WatcherApplied[] = fleet.map((steps, i) => {
          let through = 0;
          let at = 0;
          let history = { acks: [] as WatcherApplied["acks"], ackCount: 0 };
          for (const [advance, delay] of steps) {
            through += advance;
            at = Math.max(at, through) + delay;
            history = withAck(history, { appliedThroughMs: through, atMs: at }) ?? history;
          }
          return { node: `n${i}`, registeredAtMs: 0, ...history };
        });
        const result = fleetConvergence(nodes, 10_000);
        const minLatest = Math.min(...nodes.map((node) => node.acks.at(-1)?.appliedThroughMs as number));
        assert.equal(result.watermarkMs, minLatest);
        if (result.latency !== null) {
          assert.ok(
            result.latency.p50Ms <= result.latency.p99Ms && result.latency.p99Ms <= result.latency.maxMs,
          );
          assert.ok(result.latency.samples >= 1);
        }
        for (const node of nodes) assert.ok(node.acks.length <= WATCHER_ACKS_KEPT);
      }),
    );
  });
});
