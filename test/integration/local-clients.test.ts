/**
 * Real Kubernetes clients against the local HTTP API: Debian's kubectl 1.20 (package
 * kubernetes-client, unpacked by scripts/ensure-kubectl.sh) and @kubernetes/client-node, over a
 * pipeline the local runner fed through its ingest queue.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { CustomObjectsApi, DiscoveryV1Api, KubeConfig } from "@kubernetes/client-node";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";

let runner: LocalRunner;
let kubectlPath: string;

before(async () => {
  kubectlPath = execFileSync("scripts/ensure-kubectl.sh", { encoding: "utf8" }).trim();
  runner = await startLocalRunner({ logLevel: "SILENT" });
  const sim = new ClusterSimulator();
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
  for (let i = 0; i < 230; i++) {
    events.push(
      sim.createPod("shop", `web-${i}`, { app: "web" }, "node-1"),
      sim.startPod("shop", `web-${i}`),
      sim.setPodReady("shop", `web-${i}`, true),
    );
  }
  await runner.sendEvents(runner.config.sqs.ingestQueueUrl, events, 50);
  await runner.whenIdle({ timeoutMs: 60_000 });
});
after(async () => runner?.stop());

const run = promisify(execFile);

/** Asynchronously: the API is served by this very process, which must keep running meanwhile. */
async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(kubectlPath, ["--server", runner.config.api, ...args], { timeout: 30_000 });
  return stdout;
}

describe("kubectl 1.20 against the local API", () => {
  it("gets endpointslices as a table and as JSON", async () => {
    const table = await kubectl("get", "endpointslices", "-n", "shop");
    assert.match(table.split("\n")[0] ?? "", /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE/);
    const rows = table.trim().split("\n").slice(1);
    assert.equal(rows.length, 3);
    assert.ok(rows.every((row) => /^web-\S+\s+IPv4\s+8080\s+/.test(row)));
    const list = JSON.parse(await kubectl("get", "endpointslices", "-n", "shop", "-o", "json")) as {
      items: Array<{ endpoints: unknown[] }>;
    };
    assert.equal(
      list.items.reduce((n, s) => n + s.endpoints.length, 0),
      230,
    );
  });

  it("gets ciliumendpointslices and ciliumidentities", async () => {
    const ces = (await kubectl("get", "ciliumendpointslices")).trim().split("\n");
    assert.match(ces[0] ?? "", /^NAME/);
    assert.equal(ces.length - 1, Math.ceil(230 / 50));
    // Pods applied before their Namespace object got a namespace-less identity first: it waits for
    // garbage collection, so one or two identities are listed, and the pods hold exactly one.
    const identities = (await kubectl("get", "ciliumidentities")).trim().split("\n");
    const inUse = JSON.parse(await kubectl("get", "ciliumendpointslices", "-o", "json")) as {
      items: Array<{ endpoints: Array<{ id: number }> }>;
    };
    const ids = new Set(inUse.items.flatMap((ces) => ces.endpoints.map((e) => String(e.id))));
    const name = (inUse.items[0] as unknown as { metadata: { name: string } }).metadata.name;
    const one = JSON.parse(await kubectl("get", "ciliumendpointslice", name, "-o", "json")) as {
      metadata: { name: string };
      namespace: string;
    };
    assert.deepEqual([one.metadata.name, one.namespace], [name, "shop"]);
    assert.equal(ids.size, 1);
    assert.ok(identities.slice(1).some((row) => row.startsWith([...ids][0] ?? "?")));
  });

  it("reports a missing object as Kubernetes does", async () => {
    await assert.rejects(
      kubectl("get", "endpointslice", "nope", "-n", "shop"),
      (error: Error & { stderr?: string }) => /Error from server \(NotFound\)/.test(String(error.stderr)),
    );
  });
});

describe("@kubernetes/client-node against the local API", () => {
  function config(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "local", server: runner.config.api, skipTLSVerify: true }],
      users: [{ name: "anonymous" }],
      contexts: [{ name: "local", cluster: "local", user: "anonymous" }],
      currentContext: "local",
    });
    return kc;
  }

  it("lists EndpointSlices page by page with limit and continue, every endpoint once", async () => {
    const api = config().makeApiClient(DiscoveryV1Api);
    const seen: string[] = [];
    let pages = 0;
    let continueToken: string | undefined;
    do {
      const page = await api.listNamespacedEndpointSlice({
        namespace: "shop",
        limit: 1,
        _continue: continueToken,
      });
      pages++;
      for (const slice of page.items)
        for (const endpoint of slice.endpoints ?? []) seen.push(endpoint.targetRef?.name ?? "");
      continueToken = page.metadata?._continue;
    } while (continueToken);
    // One slice a page (an empty last page may close the list, as the API cannot know it is last).
    assert.ok(pages >= 3 && pages <= 5, `pages ${pages}`);
    assert.equal(new Set(seen).size, 230);
    assert.equal(seen.length, 230);
  });

  it("reads custom resources: CiliumIdentities with a label selector", async () => {
    const api = config().makeApiClient(CustomObjectsApi);
    const list = (await api.listClusterCustomObject({
      group: "cilium.io",
      version: "v2",
      plural: "ciliumidentities",
    })) as {
      items: Array<{ metadata: { name: string; labels: Record<string, string> } }>;
    };
    assert.ok(list.items.length >= 1);
    const selected = (await api.listClusterCustomObject({
      group: "cilium.io",
      version: "v2",
      plural: "ciliumidentities",
      labelSelector: "io.kubernetes.pod.namespace=shop",
    })) as { items: unknown[] };
    assert.equal(selected.items.length, list.items.length);
    const none = (await api.listClusterCustomObject({
      group: "cilium.io",
      version: "v2",
      plural: "ciliumidentities",
      labelSelector: "io.kubernetes.pod.namespace=elsewhere",
    })) as { items: unknown[] };
    assert.equal(none.items.length, 0);
  });
});
