/**
 * `npm run bridge` as a process: a kubeconfig and a local.json-shaped target in, JSON log lines,
 * /metrics, contract events on the queue; SIGTERM drains and exits 0; bad usage exits 2.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { FakeApiServer } from "#scripts/sim/fake-apiserver.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { drain } from "#test/support/pipeline-checks.ts";
import { seededCluster } from "#test/support/random-trace.ts";

let dir: string;
let messaging: FauxqsHandle;
let fake: FakeApiServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sliceline-bridge-cli-"));
  messaging = await startLocalMessaging();
  fake = new FakeApiServer();
  await fake.start();
  for (const event of seededCluster().events) fake.apply(event);
});
after(async () => {
  await fake?.stop();
  await messaging?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  next: (msg: string) => Promise<Record<string, unknown>>;
} {
  const child = spawn(process.execPath, ["scripts/bridge.ts", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiting: Array<{ msg: string; resolve: (line: Record<string, unknown>) => void }> = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    for (const waiter of [...waiting])
      if (waiter.msg === line.msg) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(line);
      }
  });
  const next = (msg: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const seen = lines.find((line) => line.msg === msg);
      if (seen !== undefined) resolve(seen);
      else waiting.push({ msg, resolve });
    });
  return { child, lines, next };
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

describe("npm run bridge", () => {
  it("watches the cluster, serves /metrics, and drains then exits 0 on SIGTERM", async () => {
    const queue = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "bridge-cli" }));
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        // client-node refuses plain HTTP unless TLS verification is off.
        clusters: [{ name: "fake", cluster: { server: fake.url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "tester", user: {} }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "tester" } }],
        "current-context": "fake",
      }),
    );
    const target = join(dir, "local.json");
    writeFileSync(
      target,
      JSON.stringify({
        region: "us-east-1",
        sqs: { endpoint: messaging.endpoint, ingestQueueUrl: queue.QueueUrl },
      }),
    );
    const { child, next } = run([
      "--kubeconfig",
      kubeconfig,
      "--target",
      target,
      "--metrics-port",
      "0",
      "--log-interval",
      "0",
    ]);
    const exited = exitCode(child);
    const starting = await next("bridge starting");
    await next("bridge watching");
    const metrics = await fetch(`http://127.0.0.1:${starting.metricsPort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^sliceline_bridge_events_seen_total \d+$/m);
    assert.equal((await fetch(`http://127.0.0.1:${starting.metricsPort}/healthz`)).status, 200);

    child.kill("SIGTERM");
    const stopped = await next("stopped");
    assert.equal(stopped.drained, true);
    assert.equal(await exited, 0);
    const bodies = await drain(messaging.sqs, queue.QueueUrl as string);
    const events = bodies.flatMap((letter) => {
      const parsed = parseMessageBody(letter.body);
      assert.deepEqual(parsed.rejected, []);
      assert.ok(Number(letter.attributes.sourceTimeMs) > 0);
      return parsed.accepted;
    });
    const metricsSnapshot = stopped.metrics as { eventsSent: number };
    assert.equal(events.length, metricsSnapshot.eventsSent);
    assert.ok(
      events.length >= 15 + 4,
      `every listed object and a SYNC per kind at least: ${JSON.stringify(stopped)}`,
    );
  });

  it("exits 2 with the usage on bad arguments", async () => {
    const { child } = run(["--nonsense"]);
    let stderr = "";
    child.stderr?.on("data", (chunk) => {
      stderr += String(chunk);
    });
    assert.equal(await exitCode(child), 2);
    assert.match(stderr, /unknown argument --nonsense\nusage: npm run bridge/);
  });
});
