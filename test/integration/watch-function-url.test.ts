/**
 * Streaming watches through the watch function URL (docs/watch.md), as the local runner serves it
 * from the template: the AWS::Lambda::Url (InvokeMode RESPONSE_STREAM) runs ApiWatchFunction's
 * Handler export (functionUrlHandler) under the shim of the runtime's `awslambda` global. Changes
 * go through the ingest queue, never seeded. Clients: plain HTTP, an @kubernetes/client-node
 * informer, Debian's kubectl 1.20 (`get endpointslices -A -w`).
 *
 * The watch function's timeout is 12 s here (-c watchTimeoutSeconds=12), so a watch without a
 * timeoutSeconds of its own ends cleanly about 10 s after it started.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DiscoveryV1Api, KubeConfig, makeInformer, type V1EndpointSlice } from "@kubernetes/client-node";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";

const WATCH_TIMEOUT_SECONDS = 12;
const LIST = "/apis/discovery.k8s.io/v1/endpointslices";

let runner: LocalRunner;
let watchUrl: string;
const sim = new ClusterSimulator();
let podCount = 0;

before(async () => {
  runner = await startLocalRunner({
    logLevel: "SILENT",
    context: { watchTimeoutSeconds: WATCH_TIMEOUT_SECONDS },
  });
  watchUrl = runner.config.watchUrl as string;
  const events: SimEvent[] = [sim.addNode("node-1", "zone-a"), sim.addNamespace("shop", {})];
  events.push(service("web"), ...pods("web", 3));
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, events, 50);
  await runner.whenIdle({ timeoutMs: 60_000 });
});
after(async () => runner?.stop());

function service(name: string): SimEvent {
  return sim.upsertService({
    namespace: "shop",
    name,
    selector: { app: name },
    ports: [{ name: "http", port: 80, targetPort: 8080 }],
  });
}

function pods(app: string, count: number): SimEvent[] {
  const events: SimEvent[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${app}-${podCount++}`;
    events.push(
      sim.createPod("shop", name, { app }, "node-1"),
      sim.startPod("shop", name),
      sim.setPodReady("shop", name, true),
    );
  }
  return events;
}

async function send(events: SimEvent[]): Promise<void> {
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, events, 50);
}

async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type WatchLine = { type: string; object: V1EndpointSlice & { metadata: { resourceVersion: string } } };

const serviceOf = (line: WatchLine) => line.object.metadata?.labels?.["kubernetes.io/service-name"];

describe("the local runner serves the watch function URL from the template", () => {
  it("lists it in local.json as watchUrl, apart from the HTTP API", () => {
    assert.match(watchUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(watchUrl, runner.config.api);
    const path = join(mkdtempSync(join(tmpdir(), "sliceline-watch-url-")), "local.json");
    runner.writeConfig(path);
    assert.equal((JSON.parse(readFileSync(path, "utf8")) as { watchUrl: string }).watchUrl, watchUrl);
    const url = runner.template.template.Resources[LOGICAL_IDS.watchFunctionUrl]?.Properties;
    assert.equal(url?.InvokeMode, "RESPONSE_STREAM");
  });

  it("answers non-watch requests too: the same list as the HTTP API, and Status errors", async () => {
    const viaUrl = (await (await fetch(`${watchUrl}${LIST}`)).json()) as { items: V1EndpointSlice[] };
    const viaApi = (await (await fetch(`${runner.config.api}${LIST}`)).json()) as {
      items: V1EndpointSlice[];
    };
    assert.deepEqual(viaUrl.items, viaApi.items);
    const missing = await fetch(`${watchUrl}/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/json");
    const status = (await missing.json()) as { kind: string; reason: string };
    assert.deepEqual([status.kind, status.reason], ["Status", "NotFound"]);
  });
});

describe("a plain HTTP client watching through the function URL", () => {
  it("receives ADDED, MODIFIED and DELETED as they happen, then a clean end before the function's timeout", async () => {
    const list = (await (await fetch(`${watchUrl}${LIST}`)).json()) as {
      metadata: { resourceVersion: string };
    };
    const startedAt = Date.now();
    const response = await fetch(
      `${watchUrl}${LIST}?watch=true&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`,
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    const lines: WatchLine[] = [];
    let endedAt = undefined as number | undefined;
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffered = "";
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        const complete = buffered.split("\n");
        buffered = complete.pop() ?? "";
        for (const line of complete) if (line !== "") lines.push(JSON.parse(line) as WatchLine);
      }
      endedAt = Date.now();
    })();
    const seen = (type: string) => lines.some((line) => line.type === type && serviceOf(line) === "streamed");

    await send([service("streamed"), ...pods("streamed", 2)]);
    await until("ADDED for the new Service's slice", () => seen("ADDED"));
    assert.equal(endedAt, undefined, "the event arrived while the watch was open");
    await send(pods("streamed", 1));
    await until("MODIFIED when a pod joins", () => seen("MODIFIED"));
    await send([sim.deleteService("shop", "streamed")]);
    await until("DELETED with the Service", () => seen("DELETED"));
    assert.equal(endedAt, undefined);

    await reading;
    const lastLine = lines.at(-1);
    assert.equal(lastLine?.type, "BOOKMARK", "a clean end says where to watch from next");
    const ranMs = Number(endedAt) - startedAt;
    assert.ok(
      ranMs >= (WATCH_TIMEOUT_SECONDS - 3) * 1000 && ranMs < WATCH_TIMEOUT_SECONDS * 1000,
      `ended after ${ranMs} ms: at the deadline, before the function's ${WATCH_TIMEOUT_SECONDS} s timeout`,
    );
  });
});

describe("@kubernetes/client-node informer on the function URL", () => {
  it("adds, updates and deletes a Service's slice in its cache", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "watch-url", server: watchUrl, skipTLSVerify: true }],
      users: [{ name: "anonymous" }],
      contexts: [{ name: "watch-url", cluster: "watch-url", user: "anonymous" }],
      currentContext: "watch-url",
    });
    const api = kc.makeApiClient(DiscoveryV1Api);
    const informer = makeInformer<V1EndpointSlice>(kc, LIST, () => api.listEndpointSliceForAllNamespaces());
    const seen: string[] = [];
    for (const verb of ["add", "update", "delete"] as const)
      informer.on(verb, (slice) => {
        if (slice.metadata?.labels?.["kubernetes.io/service-name"] === "informed") seen.push(verb);
      });
    const endpoints = () =>
      informer
        .list()
        .filter((s) => s.metadata?.labels?.["kubernetes.io/service-name"] === "informed")
        .reduce((n, s) => n + (s.endpoints?.length ?? 0), 0);
    await informer.start();
    try {
      await until("the informer's list", () => informer.list().length > 0);
      await send([service("informed"), ...pods("informed", 2)]);
      await until("the new slice in the cache", () => endpoints() === 2);
      await send(pods("informed", 1));
      await until("the updated slice in the cache", () => endpoints() === 3);
      await send([sim.deleteService("shop", "informed")]);
      await until("the slice gone from the cache", () => seen.includes("delete"));
      assert.deepEqual([...new Set(seen)], ["add", "update", "delete"]);
    } finally {
      await informer.stop();
    }
  });
});

describe("kubectl get endpointslices -A -w against the function URL", () => {
  it("Debian kubectl 1.20 prints the initial list, then a new Service's slice as it comes", async () => {
    const kubectl = execFileSync("scripts/ensure-kubectl.sh", { encoding: "utf8" }).trim();
    let output = "";
    let errors = "";
    const child = spawn(kubectl, ["--server", watchUrl, "get", "endpointslices", "-A", "-w"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    try {
      await until(
        `kubectl's header and rows (stderr: ${errors})`,
        () => /^NAMESPACE\s+NAME\s+ADDRESSTYPE/m.test(output) && /\bweb-/.test(output),
      );
      await send([service("kubectl"), ...pods("kubectl", 2)]);
      await until(`a row for the new slice (output: ${output}; stderr: ${errors})`, () =>
        /^shop\s+kubectl-\S+\s+IPv4\s+8080\s+\S+,\S+/m.test(output),
      );
    } finally {
      child.kill();
    }
  });
});
