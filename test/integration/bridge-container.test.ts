/**
 * The bridge as its container runs it, short of building the image (no Docker daemon here):
 *   - the esbuild bundle (npm run build:bridge, the Dockerfile's entry) run by plain node from a
 *     directory holding nothing else (no node_modules, no package.json, no TypeScript), configured
 *     by environment variables only, as infra/bridge/kubernetes.yaml does: against the recorded
 *     cluster (test/fixtures/recorded-cluster) and fauxqs, it logs JSON lines, serves /healthz and
 *     /metrics, puts contract events on both queues, and drains then exits 0 on SIGTERM;
 *   - infra/bridge/kubernetes.yaml through `kubectl create --dry-run=client` (Debian's kubectl,
 *     discovery from a stub server), every field known to the Kubernetes models, and consistent
 *     with the bridge (its variables, port, probes, RBAC) and the Dockerfile;
 *   - the Dockerfile: the entry it builds and runs, its user, and a build context that holds
 *     every file the bundle is made of.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { buildBridge } from "#scripts/build-bridge.ts";
import { FakeApiServer } from "#scripts/sim/fake-apiserver.ts";
import { BRIDGE_ENV } from "#shared/config/resources.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { jsonDocuments, modelOf, schemaErrors, startDiscoveryServer } from "#test/support/kube-schema.ts";
import { drain } from "#test/support/pipeline-checks.ts";
import { recordedResponses } from "#test/support/recorded-cluster.ts";

const MANIFEST = "infra/bridge/kubernetes.yaml";

/** A current kubectl (1.3x), when this machine has one on the PATH (besides Debian's 1.20). */
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
const DOCKERFILE = "infra/bridge/Dockerfile";

let dir: string;
let bundleInputs: string[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sliceline-bridge-container-"));
  bundleInputs = await buildBridge(join(dir, "app", "bridge.mjs"));
});
after(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("the bridge's container entry", () => {
  let messaging: FauxqsHandle;
  let fake: FakeApiServer;
  before(async () => {
    messaging = await startLocalMessaging();
    fake = new FakeApiServer();
    await fake.start();
    for (const { kind, verb, responses } of recordedResponses({ expire: Promise.resolve() }).values())
      fake.replay(kind, verb, responses);
  });
  after(async () => {
    await fake?.stop();
    await messaging?.stop();
  });

  it("is one file that plain node runs alone, configured by environment variables: events on SQS, /healthz, /metrics, SIGTERM drains", async () => {
    const app = join(dir, "app");
    assert.deepEqual(readdirSync(app), ["bridge.mjs"]);
    const ingest = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "bridge-container" }));
    const priority = await messaging.sqs.send(
      new CreateQueueCommand({ QueueName: "bridge-container-priority" }),
    );
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "fake", cluster: { server: fake.url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "tester", user: {} }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "tester" } }],
        "current-context": "fake",
      }),
    );
    const child: ChildProcess = spawn(process.execPath, ["bridge.mjs"], {
      cwd: app,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        [BRIDGE_ENV.kubeconfig]: kubeconfig,
        [BRIDGE_ENV.ingestQueueUrl]: ingest.QueueUrl,
        [BRIDGE_ENV.priorityQueueUrl]: priority.QueueUrl,
        [BRIDGE_ENV.metricsPort]: "0",
        [BRIDGE_ENV.logIntervalSeconds]: "0",
        AWS_ENDPOINT_URL_SQS: messaging.endpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "local",
        AWS_SECRET_ACCESS_KEY: "local",
      },
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let stderr = "";
    child.stderr?.on("data", (chunk) => {
      stderr += String(chunk);
    });
    const lines: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    });
    const line = async (msg: string): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const found = lines.find((entry) => entry.msg === msg);
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`no "${msg}" log line; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      const starting = await line("bridge starting");
      await line("bridge watching");
      const base = `http://127.0.0.1:${starting.metricsPort}`;
      const healthz = await fetch(`${base}/healthz`);
      assert.equal(healthz.status, 200);
      assert.equal(await healthz.text(), "ok\n");
      assert.match(
        await (await fetch(`${base}/metrics`)).text(),
        /^sliceline_bridge_events_seen_total \d+$/m,
      );

      const bodies: Array<{ queue: string; body: string }> = [];
      const deadline = Date.now() + 30_000;
      while (!bodies.some(({ body }) => body.includes('"type":"DELETED"'))) {
        if (Date.now() > deadline) throw new Error(`no DELETED event on the queue; stderr: ${stderr}`);
        for (const [queue, url] of [
          ["ingest", ingest.QueueUrl as string],
          ["priority", priority.QueueUrl as string],
        ] as const)
          for (const message of await drain(messaging.sqs, url)) bodies.push({ queue, body: message.body });
      }
      child.kill("SIGTERM");
      const stopped = await line("stopped");
      assert.equal(stopped.drained, true);
      assert.equal(await exited, 0);
      for (const [queue, url] of [
        ["ingest", ingest.QueueUrl as string],
        ["priority", priority.QueueUrl as string],
      ] as const)
        for (const message of await drain(messaging.sqs, url)) bodies.push({ queue, body: message.body });

      const events = bodies.flatMap(({ queue, body }) => {
        const parsed = parseMessageBody(body);
        assert.deepEqual(parsed.rejected, []);
        return parsed.accepted.map(({ event }) => ({ queue, event }));
      });
      assert.equal(events.length, (stopped.metrics as { eventsSent: number }).eventsSent);
      const described = events.map(({ queue, event }) =>
        event.type === "SYNC"
          ? `${queue} SYNC ${event.kind} ${event.namespace ?? ""} ${event.resourceVersion}`
          : `${queue} ${event.type} ${event.object.kind} ${event.object.metadata.name} ${event.object.metadata.resourceVersion}`,
      );
      for (const expected of [
        "priority ADDED Namespace kube-system 36",
        "priority SYNC Pod kube-system 414329",
        "ingest ADDED Node dual-stack-worker 870",
        "ingest ADDED Service echo-dualstack 896",
        "ingest SYNC Pod default 414329",
        "ingest DELETED Pod crashloop 2433922",
      ])
        assert.ok(described.includes(expected), `${expected} in ${described.join("; ")}`);
      for (const entry of lines) assert.ok(typeof entry.time === "string" && typeof entry.level === "string");
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("infra/bridge/kubernetes.yaml", () => {
  type Manifest = {
    kind: string;
    apiVersion: string;
    metadata: { name: string; namespace?: string };
    [field: string]: unknown;
  };
  let objects: Manifest[];
  let currentObjects: Manifest[] | undefined;

  before(async () => {
    const kubectl = execFileSync("scripts/ensure-kubectl.sh", { encoding: "utf8" }).trim();
    const discovery = await startDiscoveryServer([
      { groupVersion: "v1", name: "namespaces", kind: "Namespace", namespaced: false },
      { groupVersion: "v1", name: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
      { groupVersion: "apps/v1", name: "deployments", kind: "Deployment", namespaced: true },
      {
        groupVersion: "rbac.authorization.k8s.io/v1",
        name: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
      },
      {
        groupVersion: "rbac.authorization.k8s.io/v1",
        name: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        namespaced: false,
      },
    ]);
    const kubeconfig = join(dir, "discovery-kubeconfig");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "stub", cluster: { server: discovery.url } }],
        users: [{ name: "tester", user: {} }],
        contexts: [{ name: "stub", context: { cluster: "stub", user: "tester" } }],
        "current-context": "stub",
      }),
    );
    // --validate=false: validation would fetch the server's OpenAPI document, which the stub
    // lacks; schemaErrors below checks the fields against the models instead.
    const dryRun = async (binary: string) =>
      jsonDocuments(
        (
          await promisify(execFile)(
            binary,
            [
              "--kubeconfig",
              kubeconfig,
              "--cache-dir",
              join(dir, `kube-cache-${binary.length}`),
              "create",
              "--dry-run=client",
              "--validate=false",
              "-o",
              "json",
              "-f",
              MANIFEST,
            ],
            { encoding: "utf8" },
          )
        ).stdout,
      ) as Manifest[];
    try {
      objects = await dryRun(kubectl);
      if (currentKubectl !== undefined) currentObjects = await dryRun(currentKubectl);
    } finally {
      await discovery.close();
    }
  });

  const find = (kind: string) => {
    const found = objects.filter((object) => object.kind === kind);
    assert.equal(found.length, 1, kind);
    return found[0] as Manifest & Record<string, never>;
  };

  it("is what Debian's kubectl 1.20 creates (dry run), with only fields the Kubernetes API has", () => {
    assert.deepEqual(objects.map((object) => object.kind).sort(), [
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "Namespace",
      "ServiceAccount",
    ]);
    for (const object of objects) assert.deepEqual(schemaErrors(object, modelOf(object)), [], object.kind);
  });

  it("is the same with a current kubectl", {
    skip: currentKubectl === undefined && "no kubectl 1.3x on the PATH",
  }, () => {
    assert.deepEqual(currentObjects, objects);
  });

  it("grants the service account list and watch on the four kinds, and nothing else", () => {
    const role = find("ClusterRole") as unknown as { rules: unknown[]; metadata: { name: string } };
    assert.deepEqual(role.rules, [
      { apiGroups: [""], resources: ["pods", "services", "namespaces", "nodes"], verbs: ["list", "watch"] },
    ]);
    const account = find("ServiceAccount");
    const binding = find("ClusterRoleBinding") as unknown as {
      roleRef: { kind: string; name: string };
      subjects: Array<{ kind: string; name: string; namespace: string }>;
    };
    assert.deepEqual(binding.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: role.metadata.name,
    });
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: account.metadata.name, namespace: account.metadata.namespace },
    ]);
    assert.equal(account.metadata.namespace, find("Namespace").metadata.name);
  });

  it("runs one bridge with the bridge's variables, its metrics port, probes on /healthz, drain time, non-root", () => {
    const deployment = find("Deployment") as unknown as {
      metadata: { namespace: string };
      spec: {
        replicas: number;
        template: {
          spec: {
            serviceAccountName: string;
            terminationGracePeriodSeconds: number;
            securityContext: { runAsNonRoot: boolean; runAsUser: number };
            containers: Array<{
              env: Array<{ name: string; value: string }>;
              ports: Array<{ name: string; containerPort: number }>;
              startupProbe: { httpGet: { path: string; port: string } };
              livenessProbe: { httpGet: { path: string; port: string } };
              securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
            }>;
          };
        };
      };
    };
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.metadata.namespace, find("ServiceAccount").metadata.namespace);
    const pod = deployment.spec.template.spec;
    assert.equal(pod.serviceAccountName, find("ServiceAccount").metadata.name);
    const [container, ...others] = pod.containers;
    assert.ok(container !== undefined && others.length === 0);
    const env = new Map(container.env.map(({ name, value }) => [name, value]));
    const bridgeVariables = new Set<string>(Object.values(BRIDGE_ENV));
    for (const name of env.keys())
      assert.ok(bridgeVariables.has(name) || name.startsWith("AWS_"), `${name} is not read by the bridge`);
    assert.ok(env.get(BRIDGE_ENV.ingestQueueUrl)?.startsWith("https://sqs."));
    assert.ok(env.get(BRIDGE_ENV.priorityQueueUrl)?.startsWith("https://sqs."));
    assert.ok(env.has("AWS_REGION"));
    const metricsPort = Number(env.get(BRIDGE_ENV.metricsPort));
    assert.deepEqual(container.ports, [{ name: "metrics", containerPort: metricsPort }]);
    for (const probe of [container.startupProbe, container.livenessProbe])
      assert.deepEqual(probe.httpGet, { path: "/healthz", port: "metrics" });
    assert.ok(pod.terminationGracePeriodSeconds > Number(env.get(BRIDGE_ENV.drainTimeoutSeconds)));
    // The image's `node` user (uid 1000 in the official node images).
    assert.deepEqual(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 1000);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    const dockerfile = readFileSync(DOCKERFILE, "utf8");
    assert.match(dockerfile, new RegExp(`^EXPOSE ${metricsPort}$`, "m"));
  });
});

describe("infra/bridge/Dockerfile", () => {
  const dockerfile = readFileSync(DOCKERFILE, "utf8");

  it("builds the bundle and runs it alone, as the node user, on node:24-slim", () => {
    assert.deepEqual(
      [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]),
      ["node:24-slim", "node:24-slim"],
    );
    const built = /^RUN node scripts\/build-bridge\.ts --outfile (\S+)$/m.exec(dockerfile)?.[1];
    assert.ok(built !== undefined);
    const copied = new RegExp(`^COPY --from=build ${built} (\\S+)$`, "m").exec(dockerfile)?.[1];
    assert.ok(copied !== undefined);
    assert.match(dockerfile, new RegExp(`^ENTRYPOINT \\["node", "${copied}"\\]$`, "m"));
    assert.match(dockerfile, /^USER node$/m);
  });

  it("has a build context (its .dockerignore) holding every file the bundle is made of", () => {
    const allowed = readFileSync(`${DOCKERFILE}.dockerignore`, "utf8")
      .split("\n")
      .filter((rule) => rule.startsWith("!"))
      .map((rule) => rule.slice(1).replace(/\/\*\*$/, "/"));
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) =>
      (match[1] as string).split(" "),
    );
    // Dependencies come from npm ci in the build stage (the worktree's node_modules may be a link).
    const own = bundleInputs.filter((input) => !input.includes("node_modules/"));
    assert.ok(own.length > 10 && own.includes("scripts/bridge.ts"));
    for (const input of own) {
      assert.ok(
        allowed.some((rule) => input === rule || (rule.endsWith("/") && input.startsWith(rule))),
        `${input} is outside the build context`,
      );
      assert.ok(
        copied.some((source) => input === source || input.startsWith(`${source}/`)),
        `${input} is not copied into the build stage`,
      );
    }
    for (const file of ["package.json", "package-lock.json"])
      assert.ok(allowed.includes(file) && copied.includes(file));
  });
});
