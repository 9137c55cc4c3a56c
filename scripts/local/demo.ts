/**
 * The local demo: a small cluster's watch traffic sent to the running pipeline the way a producer
 * would (SendMessageBatch of {"events": [...]} bodies; kube-system to the priority queue), three
 * watchers registered through the HTTP API first, then a rolling update, each phase timed until
 * the pipeline is idle. Returns what it did, for printing.
 */
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { changeTopicArnsFromEnvironment } from "#functions/commons/environment.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { DEFAULT_PRIORITY_NAMESPACES } from "#shared/config/resources.ts";
import type { LocalRunner } from "./runner.ts";

export interface DemoPhase {
  readonly title: string;
  readonly events: number;
  readonly messages: number;
  readonly seconds: number;
}

export interface DemoWatcher {
  readonly node: string;
  readonly request: Record<string, unknown>;
  readonly queueUrl: string;
  messages: number;
}

export interface DemoResult {
  readonly phases: DemoPhase[];
  readonly watchers: DemoWatcher[];
  readonly counts: Record<string, number>;
  readonly namespaces: string[];
  readonly pods: number;
  readonly services: number;
}

const PRIORITY = new Set<string>(DEFAULT_PRIORITY_NAMESPACES);

export async function runDemo(runner: LocalRunner, log: (line: string) => void): Promise<DemoResult> {
  const api = runner.config.api;
  const zones = Object.keys(changeTopicArnsFromEnvironment())
    .filter((scope) => scope.startsWith("EndpointSlice@"))
    .map((scope) => scope.slice("EndpointSlice@".length));
  if (zones.length === 0) zones.push("zone-a");
  const zoneOf = (i: number) => zones[i % zones.length] as string;

  // Watchers first: registration subscribes before it answers, so they see everything that follows.
  const watchers: DemoWatcher[] = [];
  const requests = [
    { node: "node-0", zone: zoneOf(0), kinds: ["EndpointSlice"] },
    { node: "node-1", zone: zoneOf(1), kinds: ["EndpointSlice"], zoneOnly: true },
    { node: "node-2", zone: zoneOf(2), kinds: ["CiliumEndpointSlice", "CiliumIdentity"] },
  ];
  for (const request of requests) {
    const response = await fetch(`${api}/v1/watchers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = (await response.json()) as { queueUrl?: string; message?: string };
    if (response.status !== 201 || body.queueUrl === undefined)
      throw new Error(`POST /v1/watchers ${request.node}: ${response.status} ${JSON.stringify(body)}`);
    watchers.push({ node: request.node, request, queueUrl: body.queueUrl, messages: 0 });
  }
  log(`registered ${watchers.length} watchers through POST /v1/watchers`);

  const sim = new ClusterSimulator(1000);
  const phases: DemoPhase[] = [];
  const phase = async (title: string, events: SimEvent[]) => {
    const started = performance.now();
    const priority = events.filter((event) => PRIORITY.has(namespaceOf(event)));
    const normal = events.filter((event) => !PRIORITY.has(namespaceOf(event)));
    let messages = 0;
    if (priority.length > 0) {
      const url = runner.config.sqs.priorityIngestQueueUrl ?? runner.config.sqs.ingestQueueUrl;
      messages += await runner.sendEvents(url, priority, 10);
    }
    messages += await runner.sendEvents(runner.config.sqs.ingestQueueUrl, normal, 25);
    await runner.whenIdle({ timeoutMs: 300_000 });
    const seconds = (performance.now() - started) / 1000;
    phases.push({ title, events: events.length, messages, seconds });
    log(
      `${title.padEnd(44)} ${String(events.length).padStart(5)} events in ${String(messages).padStart(3)} messages, idle after ${seconds.toFixed(1)} s`,
    );
  };

  // Setup: nodes, namespaces, Services.
  const setup: SimEvent[] = [];
  const nodes = Array.from({ length: 9 }, (_, i) => `node-${i}`);
  nodes.forEach((node, i) => {
    setup.push(sim.addNode(node, zoneOf(i)));
  });
  const apps = [
    { namespace: "shop", app: "web", replicas: 120, port: { name: "http", port: 80, targetPort: "http" } },
    { namespace: "shop", app: "cart", replicas: 60, port: { name: "grpc", port: 9000, targetPort: 9000 } },
    {
      namespace: "payments",
      app: "ledger",
      replicas: 40,
      port: { name: "http", port: 80, targetPort: 8080 },
    },
    { namespace: "search", app: "api", replicas: 60, port: { name: "http", port: 80, targetPort: "http" } },
    {
      namespace: "kube-system",
      app: "kube-dns",
      replicas: 4,
      port: { name: "dns", port: 53, targetPort: "dns", protocol: "UDP" },
    },
    {
      namespace: "kube-system",
      app: "metrics-server",
      replicas: 2,
      port: { name: "https", port: 443, targetPort: 10250 },
    },
  ];
  const namespaces = [...new Set(apps.map((a) => a.namespace))];
  for (const namespace of namespaces) setup.push(sim.addNamespace(namespace, { team: namespace }));
  for (const { namespace, app, port } of apps) {
    setup.push(
      sim.upsertService({
        namespace,
        name: app,
        selector: { app },
        ports: [{ protocol: "TCP", ...port }] as never,
      }),
    );
  }
  await phase(
    `setup: ${nodes.length} nodes, ${namespaces.length} namespaces, ${apps.length} Services`,
    setup,
  );

  const deploy = (namespace: string, app: string, replicas: number, hash: string, offset = 0) => {
    const events: SimEvent[] = [];
    for (let i = 0; i < replicas; i++) {
      const name = `${app}-${hash}-${i}`;
      events.push(
        sim.createPod(
          namespace,
          name,
          { app, "pod-template-hash": hash },
          nodes[(i + offset) % nodes.length] as string,
          {
            ports: [
              { name: "http", containerPort: 8080, protocol: "TCP" },
              { name: "dns", containerPort: 53, protocol: "UDP" },
            ],
          },
        ),
      );
    }
    for (let i = 0; i < replicas; i++) events.push(sim.startPod(namespace, `${app}-${hash}-${i}`));
    for (let i = 0; i < replicas; i++) events.push(sim.setPodReady(namespace, `${app}-${hash}-${i}`, true));
    return events;
  };
  const rollout = apps.flatMap(({ namespace, app, replicas }) => deploy(namespace, app, replicas, "v1"));
  const pods = apps.reduce((sum, a) => sum + a.replicas, 0);
  await phase(`deploy ${pods} pods (create, start, ready)`, rollout);

  // A rolling update of shop/cart: new pods come up, old ones terminate and go.
  const update: SimEvent[] = [...deploy("shop", "cart", 60, "v2", 3)];
  for (let i = 0; i < 60; i++) update.push(sim.terminatePod("shop", `cart-v1-${i}`));
  for (let i = 0; i < 60; i++) update.push(sim.deletePod("shop", `cart-v1-${i}`));
  await phase("rolling update of shop/cart (60 pods)", update);

  // A namespace label flip: new identities for every payments pod.
  await phase("relabel namespace payments (new identities)", [
    sim.relabelNamespace("payments", { team: "payments", "pci-scope": "true" }),
  ]);

  const counts: Record<string, number> = {};
  for (const [kind, path] of Object.entries(LIST_PATHS)) counts[kind] = await countItems(`${api}${path}`);
  for (const watcher of watchers) {
    const { Attributes } = await runner.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: watcher.queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages"],
      }),
    );
    watcher.messages = Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }
  return { phases, watchers, counts, namespaces, pods, services: apps.length };
}

export const LIST_PATHS = {
  EndpointSlice: "/apis/discovery.k8s.io/v1/endpointslices",
  CiliumEndpointSlice: "/apis/cilium.io/v2alpha1/ciliumendpointslices",
  CiliumIdentity: "/apis/cilium.io/v2/ciliumidentities",
} as const;

/** Lists a collection page by page (limit/continue) and counts its items. */
async function countItems(url: string): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const page = `${url}?limit=100${token === undefined ? "" : `&continue=${encodeURIComponent(token)}`}`;
    const response = await fetch(page);
    if (!response.ok) throw new Error(`GET ${page}: ${response.status}`);
    const body = (await response.json()) as { items: unknown[]; metadata?: { continue?: string } };
    count += body.items.length;
    token = body.metadata?.continue || undefined;
  } while (token !== undefined);
  return count;
}

function namespaceOf(event: SimEvent): string {
  const metadata = (event.object as { metadata?: { namespace?: string } }).metadata;
  return metadata?.namespace ?? "";
}
