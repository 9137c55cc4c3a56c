/**
 * A simulated Kubernetes cluster to point the bridge at when there is no real one: a small API
 * server (list and watch of Pods, Services, Namespaces and Nodes in the apiserver's wire format,
 * scripts/sim/fake-apiserver.ts) holding a seeded cluster, with churn (readiness flips and pods
 * replaced one by one, as a rolling update does) at a steady rate. Writes a kubeconfig for it.
 *
 *   npm run sim-cluster -- [--kubeconfig .sliceline/sim-kubeconfig.yaml] [--port 0] [--rate 5]
 *                          [--seconds 0] [--namespaces 3] [--pods 8] [--nodes 6] [--seed 1]
 *
 * --seconds N stops the churn after N seconds and keeps serving (0: churn until stopped).
 * Prints one JSON line when ready ({"server", "kubeconfig", ...}) and one when the churn stops.
 * SIGINT / SIGTERM stop it.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { FakeApiServer } from "#scripts/sim/fake-apiserver.ts";
import { seededRandom } from "#scripts/sim/seeded-random.ts";

const USAGE = `usage: npm run sim-cluster -- [options]
  --kubeconfig FILE  where to write the kubeconfig (default .sliceline/sim-kubeconfig.yaml)
  --port P           listen on 127.0.0.1:P (default 0: any free port)
  --rate N           changes per second (default 5; 0: no churn)
  --seconds N        stop the churn after N seconds, keep serving (default 0: churn until stopped)
  --namespaces N     namespaces, each with Services "web" and "api" (default 3)
  --pods N           pods per Service (default 8)
  --nodes N          nodes, spread over zone-a, zone-b, zone-c (default 6)
  --seed N           seed of the churn's choices (default 1)`;

const ZONES = ["zone-a", "zone-b", "zone-c"] as const;
const APPS = ["web", "api"] as const;

const { values } = parseArgs({
  options: {
    kubeconfig: { type: "string", default: ".sliceline/sim-kubeconfig.yaml" },
    port: { type: "string", default: "0" },
    rate: { type: "string", default: "5" },
    seconds: { type: "string", default: "0" },
    namespaces: { type: "string", default: "3" },
    pods: { type: "string", default: "8" },
    nodes: { type: "string", default: "6" },
    seed: { type: "string", default: "1" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function count(name: string, raw: string, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    console.error(`--${name}: an integer from 0 to ${max}, not ${raw}\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

const options = {
  port: count("port", values.port, 65_535),
  rate: count("rate", values.rate, 1_000),
  seconds: count("seconds", values.seconds, 86_400),
  namespaces: Math.max(1, count("namespaces", values.namespaces, 100)),
  pods: Math.max(1, count("pods", values.pods, 1_000)),
  nodes: Math.max(1, count("nodes", values.nodes, 5_000)),
  seed: count("seed", values.seed, 2 ** 31),
};

interface Replica {
  readonly namespace: string;
  readonly app: string;
  name: string;
  ready: boolean;
}

const sim = new ClusterSimulator(1000);
const server = new FakeApiServer();
const random = seededRandom(options.seed);
const nodes = Array.from({ length: options.nodes }, (_, i) => `sim-node-${i}`);
const replicas: Replica[] = [];
let generation = 0;
let changes = 0;

const apply = (...events: SimEvent[]): void => {
  for (const event of events) server.apply(event);
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

/** A pod of the app scheduled, started and ready: what a ReplicaSet's new pod goes through. */
function launch(replica: Replica): void {
  const { namespace, app, name } = replica;
  apply(
    sim.createPod(namespace, name, { app, "pod-template-hash": `g${generation}` }, pick(nodes), {
      ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
    }),
    sim.startPod(namespace, name),
    sim.setPodReady(namespace, name, true),
  );
  replica.ready = true;
}

function seed(): void {
  nodes.forEach((node, i) => {
    apply(sim.addNode(node, ZONES[i % ZONES.length]));
  });
  for (let n = 0; n < options.namespaces; n++) {
    const namespace = `sim-${n}`;
    apply(sim.addNamespace(namespace, { team: `team-${n}` }));
    for (const app of APPS) {
      apply(
        sim.upsertService({
          namespace,
          name: app,
          selector: { app },
          ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
        }),
      );
      for (let p = 0; p < options.pods; p++) {
        const replica: Replica = { namespace, app, name: `${app}-${generation}-${p}`, ready: false };
        replicas.push(replica);
        launch(replica);
      }
    }
  }
}

/** One change: a readiness flip (two in three) or a pod replaced by a new one (a rolling update's step). */
function churnOnce(): void {
  const replica = pick(replicas);
  if (random() < 2 / 3) {
    replica.ready = !replica.ready;
    apply(sim.setPodReady(replica.namespace, replica.name, replica.ready));
  } else {
    apply(sim.terminatePod(replica.namespace, replica.name), sim.deletePod(replica.namespace, replica.name));
    generation++;
    replica.name = `${replica.app}-${generation}-${replicas.indexOf(replica)}`;
    launch(replica);
  }
  changes++;
}

function writeKubeconfig(path: string, serverUrl: string): void {
  // client-node refuses a plain-HTTP server unless the cluster skips TLS verification.
  const kubeconfig = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: sim",
    "  cluster:",
    `    server: ${serverUrl}`,
    "    insecure-skip-tls-verify: true",
    "users:",
    "- name: sim",
    "  user:",
    "    token: sim",
    "contexts:",
    "- name: sim",
    "  context:",
    "    cluster: sim",
    "    user: sim",
    "current-context: sim",
    "",
  ].join("\n");
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, kubeconfig);
}

seed();
try {
  await server.start(options.port);
} catch (error) {
  console.error(`cannot listen on 127.0.0.1:${options.port}: ${(error as Error).message}`);
  process.exit(1);
}
writeKubeconfig(values.kubeconfig, server.url);
console.log(
  JSON.stringify({
    msg: "serving",
    server: server.url,
    kubeconfig: values.kubeconfig,
    namespaces: options.namespaces,
    services: options.namespaces * APPS.length,
    pods: replicas.length,
    nodes: nodes.length,
    rate: options.rate,
  }),
);

let churn: NodeJS.Timeout | undefined;
let report: NodeJS.Timeout | undefined;
const stopChurn = (): void => {
  if (churn === undefined) return;
  clearInterval(churn);
  clearInterval(report);
  churn = undefined;
  console.log(JSON.stringify({ msg: "churn stopped", changes, revision: server.revision }));
};
if (options.rate > 0) {
  churn = setInterval(churnOnce, 1000 / options.rate);
  report = setInterval(() => console.log(JSON.stringify({ msg: "churning", changes })), 10_000);
  if (options.seconds > 0) setTimeout(stopChurn, options.seconds * 1000).unref();
}

const shutdown = async (): Promise<void> => {
  stopChurn();
  await server.stop();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
