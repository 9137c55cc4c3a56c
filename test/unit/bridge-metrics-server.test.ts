/**
 * The bridge's /metrics and /healthz: /healthz is 503 until the bridge has started (its first lists
 * done), which a container's startup probe waits for, and 200 after; anything else is 404.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startMetricsServer } from "#shared/bridge/metrics-server.ts";

describe("bridge metrics server", () => {
  it("answers /healthz 503 while starting, 200 once started; /metrics as Prometheus text; 404 otherwise", async () => {
    let started = false;
    const server = await startMetricsServer(
      0,
      () => "sliceline_bridge_events_seen_total 3\n",
      () => started,
    );
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const starting = await fetch(`${base}/healthz`);
      assert.equal(starting.status, 503);
      assert.equal(await starting.text(), "starting\n");
      started = true;
      const healthy = await fetch(`${base}/healthz`);
      assert.equal(healthy.status, 200);
      assert.equal(await healthy.text(), "ok\n");
      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.equal(await metrics.text(), "sliceline_bridge_events_seen_total 3\n");
      assert.equal((await fetch(`${base}/`)).status, 404);
    } finally {
      await server.close();
    }
  });
});
