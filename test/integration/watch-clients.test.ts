/**
 * Kubernetes watch with real clients against the local HTTP API, each converging on a trace sent
 * through the ingest queue (docs/watch.md): Debian's kubectl 1.20 and a current kubectl (when one
 * is on the PATH) with `get endpointslices -A -w`, an @kubernetes/client-node informer, and the
 * Python `kubernetes` client (Debian's python3-kubernetes; skipped with a message when absent).
 * Also discovery: `kubectl api-resources` with both kubectls. Prints the watch latency measured
 * (ingest send -> the event at the client).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { DiscoveryV1Api, KubeConfig, makeInformer, type V1EndpointSlice } from "@kubernetes/client-node";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { jsonDocuments } from "#test/support/kube-schema.ts";

const run = promisify(execFile);
let runner: LocalRunner;
let debianKubectl: string;
const sim = new ClusterSimulator();
let podCount = 0;

/** A current kubectl (1.3x), when this machine has one on the PATH. */
const currentKubectl = (() => {
  try {
    const version = execFileSync("kubectl", ["version", "--client", "-o", "json"], { encoding: "utf8" });
    const minor = Number(
      (JSON.parse(version) as { clientVersion: { minor: string } }).clientVersion.minor.replace(/\D/g, ""),
    );
    return minor >= 30 ? "kubectl" : undefined;
  } catch {
    return undefined;
  }
})();

/** A Python that imports `kubernetes`: Debian's own first (the package installs there, not in a pyenv). */
const pythonKubernetes = ["/usr/bin/python3", "python3"].find((python) => {
  try {
    execFileSync(python, ["-c", "import kubernetes"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
});

before(async () => {
  debianKubectl = execFileSync("scripts/ensure-kubectl.sh", { encoding: "utf8" }).trim();
  runner = await startLocalRunner({ logLevel: "SILENT" });
  const events: SimEvent[] = [
    sim.addNode("node-1", "zone-a"),
    sim.addNamespace("shop", { team: "storefront" }),
  ];
  events.push(
    sim.upsertService({
      namespace: "shop",
      name: "web",
      selector: { app: "web" },
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    }),
  );
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, [...events, ...addPods("web", 5)], 50);
  await runner.whenIdle({ timeoutMs: 60_000 });
});
after(async () => runner?.stop());

function addPods(app: string, count: number): SimEvent[] {
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

/** A new Service with `pods` ready pods, sent through ingest; resolves when it was sent. */
async function sendService(name: string, pods: number): Promise<number> {
  const events = [
    sim.upsertService({
      namespace: "shop",
      name,
      selector: { app: name },
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    }),
    ...addPods(name, pods),
  ];
  const sentAt = Date.now();
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, events, 50);
  return sentAt;
}

/** What the API lists: name -> resourceVersion of every EndpointSlice. */
async function apiSlices(): Promise<Map<string, string>> {
  const response = await fetch(`${runner.config.api}/apis/discovery.k8s.io/v1/endpointslices`);
  const list = (await response.json()) as { items: V1EndpointSlice[] };
  return new Map(
    list.items.map((s) => [
      `${s.metadata?.namespace}/${s.metadata?.name}`,
      s.metadata?.resourceVersion ?? "",
    ]),
  );
}

async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<number> {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now();
}

/** Endpoint count per Service from watch events seen so far. */
function endpointsOf(events: Array<{ type: string; object: V1EndpointSlice }>, service: string): number {
  const slices = new Map<string, number>();
  for (const { type, object } of events) {
    if (object.metadata?.labels?.["kubernetes.io/service-name"] !== service) continue;
    const key = object.metadata?.name ?? "";
    if (type === "DELETED") slices.delete(key);
    else slices.set(key, object.endpoints?.length ?? 0);
  }
  return [...slices.values()].reduce((a, b) => a + b, 0);
}

const latencies: Array<[string, number]> = [];
after(() => {
  for (const [client, ms] of latencies)
    console.log(`watch latency (ingest send -> event at client), ${client}: ${ms} ms`);
});

describe("discovery with real kubectls", () => {
  for (const [name, binary] of [
    ["Debian kubectl 1.20", () => debianKubectl],
    ["current kubectl", () => currentKubectl],
  ] as const) {
    it(`${name}: api-resources lists the sliceline resources with the watch verb`, {
      skip: binary() === undefined && "no kubectl 1.3x on the PATH",
    }, async () => {
      const { stdout } = await run(
        binary() as string,
        ["--server", runner.config.api, "api-resources", "-o", "wide"],
        {
          timeout: 30_000,
        },
      );
      for (const resource of ["endpointslices", "ciliumendpointslices", "ciliumidentities"]) {
        const line = stdout.split("\n").find((l) => l.startsWith(`${resource} `));
        assert.ok(line !== undefined, `${resource} in:\n${stdout}`);
        assert.match(line, /get[ ,]list[ ,]watch/);
      }
    });
  }
});

describe("kubectl get endpointslices -A -w", () => {
  for (const [name, binary] of [
    ["Debian kubectl 1.20", () => debianKubectl],
    ["current kubectl", () => currentKubectl],
  ] as const) {
    it(`${name} follows a new Service to all its endpoints`, {
      skip: binary() === undefined && "no kubectl 1.3x on the PATH",
    }, async () => {
      const service = `kw${latencies.length}`;
      let output = "";
      const child: ChildProcess = spawn(
        binary() as string,
        [
          "--server",
          runner.config.api,
          "get",
          "endpointslices",
          "-A",
          "-w",
          "--output-watch-events",
          "-o",
          "json",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let errors = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        errors += chunk.toString();
      });
      try {
        const events = () => jsonDocuments(output) as Array<{ type: string; object: V1EndpointSlice }>;
        // The initial list arrives first (as ADDED events), then the watch is open.
        await until("the initial state", () => endpointsOf(events(), "web") === 5);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const sentAt = await sendService(service, 7);
        const seenAt = await until(
          `${service} in kubectl's watch (stderr: ${errors})`,
          () => endpointsOf(events(), service) === 7,
        );
        latencies.push([name, seenAt - sentAt]);
      } finally {
        child.kill();
      }
    });
  }
});

describe("kubectl get endpointslices -A -w, as printed (server-side Table rows)", () => {
  for (const [name, binary] of [
    ["Debian kubectl 1.20", () => debianKubectl],
    ["current kubectl", () => currentKubectl],
  ] as const) {
    it(`${name} prints a row for a new Service's slice`, {
      skip: binary() === undefined && "no kubectl 1.3x on the PATH",
    }, async () => {
      const service = `kt${latencies.length}`;
      let output = "";
      let errors = "";
      const child = spawn(
        binary() as string,
        ["--server", runner.config.api, "get", "endpointslices", "-A", "-w"],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
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
        await new Promise((resolve) => setTimeout(resolve, 300));
        const sentAt = await sendService(service, 3);
        const seenAt = await until(`a row for ${service} (output: ${output}; stderr: ${errors})`, () =>
          new RegExp(`^shop\\s+${service}-\\S+\\s+IPv4\\s+8080\\s+(\\S+,){2}\\S+`, "m").test(output),
        );
        latencies.push([`${name}, table output`, seenAt - sentAt]);
      } finally {
        child.kill();
      }
    });
  }
});

describe("@kubernetes/client-node informer", () => {
  it("reaches the API's list of EndpointSlices after changes", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "local", server: runner.config.api, skipTLSVerify: true }],
      users: [{ name: "anonymous" }],
      contexts: [{ name: "local", cluster: "local", user: "anonymous" }],
      currentContext: "local",
    });
    const api = kc.makeApiClient(DiscoveryV1Api);
    const informer = makeInformer<V1EndpointSlice>(kc, "/apis/discovery.k8s.io/v1/endpointslices", () =>
      api.listEndpointSliceForAllNamespaces(),
    );
    const cached = () =>
      new Map(
        informer
          .list()
          .map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s.metadata?.resourceVersion ?? ""]),
      );
    let firstAddedAt: number | undefined;
    informer.on("add", (slice) => {
      if (slice.metadata?.labels?.["kubernetes.io/service-name"] === "informed") firstAddedAt ??= Date.now();
    });
    await informer.start();
    try {
      await until(
        "the informer's first list",
        async () => cached().size > 0 && sameMaps(cached(), await apiSlices()),
      );
      const sentAt = await sendService("informed", 9);
      await runner.whenIdle({ timeoutMs: 60_000 });
      // Also a change that removes endpoints: the web Service loses its pods.
      const removals = ["web-0", "web-1"].map((pod) => sim.deletePod("shop", pod));
      await runner.sendEvents(runner.config.sqs.ingestQueueUrl, removals, 50);
      await runner.whenIdle({ timeoutMs: 60_000 });
      await until("the informer's cache to equal the API's list", async () =>
        sameMaps(cached(), await apiSlices()),
      );
      assert.ok(firstAddedAt !== undefined);
      latencies.push(["client-node informer", firstAddedAt - sentAt]);
    } finally {
      await informer.stop();
    }
  });
});

describe("Python kubernetes client (Debian python3-kubernetes)", () => {
  it("watch.stream follows a new Service", {
    skip: !pythonKubernetes && "python3-kubernetes is not installed (apt-get install -y python3-kubernetes)",
  }, async () => {
    const script = [
      "import json, sys, time",
      "from kubernetes import client, watch",
      "c = client.Configuration(); c.host = sys.argv[1]",
      "api = client.DiscoveryV1Api(client.ApiClient(c))",
      "w = watch.Watch()",
      "for ev in w.stream(api.list_endpoint_slice_for_all_namespaces, timeout_seconds=60):",
      "    o = ev['object']",
      "    print(json.dumps({'type': ev['type'], 'service': (o.metadata.labels or {}).get('kubernetes.io/service-name'),",
      "                      'endpoints': len(o.endpoints or []), 'name': o.metadata.name, 't': time.time()}), flush=True)",
    ].join("\n");
    const child = spawn(pythonKubernetes as string, ["-c", script, runner.config.api], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let errors = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    const events = () =>
      output
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as { type: string; service: string; endpoints: number; name: string });
    const endpoints = (service: string) => {
      const slices = new Map<string, number>();
      for (const e of events()) {
        if (e.service !== service) continue;
        if (e.type === "DELETED") slices.delete(e.name);
        else slices.set(e.name, e.endpoints);
      }
      return [...slices.values()].reduce((a, b) => a + b, 0);
    };
    try {
      await until(`the initial state (stderr: ${errors})`, () => endpoints("web") > 0);
      const sentAt = await sendService("pyw", 6);
      const seenAt = await until(`pyw in the Python watch (stderr: ${errors})`, () => endpoints("pyw") === 6);
      latencies.push(["python kubernetes", seenAt - sentAt]);
    } finally {
      child.kill();
    }
  });
});

function sameMaps(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}
