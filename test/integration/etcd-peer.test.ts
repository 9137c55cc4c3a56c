import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildChurnTrace } from "#scripts/bench/etcd/churn-trace.ts";
import { CiliumKvstoreModel, IP_IDENTITY_PREFIX } from "#scripts/bench/etcd/cilium-kvstore.ts";
import { findEtcdBinary } from "#scripts/bench/etcd/etcd-server.ts";
import { runEtcdPeer } from "#scripts/bench/etcd-peer.ts";
import type { Trace } from "#scripts/bench/types.ts";

const etcd = findEtcdBinary();
const skip =
  etcd === undefined ? "no etcd binary: run scripts/ensure-etcd.sh (Debian etcd-server 3.4)" : false;

/** The IP-key writes of the measured part, and their key+value bytes, counted from the model alone. */
function expectedIpWrites(trace: Trace): { writes: number; bytes: number } {
  const model = new CiliumKvstoreModel();
  let writes = 0;
  let bytes = 0;
  trace.events.forEach((traceEvent, index) => {
    for (const op of model.apply(traceEvent.event, traceEvent.atMs)) {
      if (index < trace.measuredFrom || !op.key.startsWith(IP_IDENTITY_PREFIX)) continue;
      writes++;
      bytes += Buffer.byteLength(op.key) + (op.kind === "put" ? Buffer.byteLength(op.value) : 0);
    }
  });
  return { writes, bytes };
}

describe("etcd kvstore peer (real etcd 3.4)", { skip }, () => {
  it("delivers every IP-key change to every watcher, which all converge", { timeout: 60_000 }, async () => {
    const trace = buildChurnTrace({
      pods: 50,
      nodes: 5,
      namespaces: 3,
      appsPerNamespace: 4,
      podChangesPerSecond: 100,
      seconds: 2,
      seed: 7,
    });
    const watchers = 20;
    const expected = expectedIpWrites(trace);
    assert.equal(trace.podChanges, 200);
    assert.ok(expected.writes > 20, `the trace should change IP keys (${expected.writes})`);

    const result = await runEtcdPeer(trace, { watchers, channels: 4 });

    assert.equal(result.strategy, "etcd-kvstore");
    assert.equal(result.measurement, "live");
    assert.equal(result.convergedWatchers, watchers);
    assert.equal(result.totalWatchers, watchers);
    assert.equal(result.etcd.ipKeyWrites, expected.writes);
    assert.equal(result.deliveries, expected.writes * watchers);
    assert.equal(result.bytesDelivered, expected.bytes * watchers);
    assert.equal(result.latency.count, result.deliveries);
    assert.ok(result.latency.p50Ms > 0 && result.latency.maxMs >= result.latency.p99Ms);
    assert.ok(result.latency.maxMs < 5_000, `max latency ${result.latency.maxMs} ms`);
    assert.equal(result.etcd.channels, 4);
    assert.match(result.etcd.etcdVersion, /^3\.4\./);
    assert.ok(result.etcd.etcdCpuSeconds > 0);
  });
});
