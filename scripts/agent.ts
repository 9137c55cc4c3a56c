/**
 * The node agent: follows one node's watcher queue (docs/contract.md §4) and keeps its IPCache and Service
 * backends, resuming from its state directory after a restart (README "Node agent").
 *
 *   npm run agent -- --node NAME [--zone Z] [--zone-only] [--kinds EndpointSlice,CiliumEndpointSlice,CiliumIdentity]
 *                    --target .sliceline/local.json|<cdk outputs file> [--stack NAME]
 *                    [--state-dir DIR] [--metrics-port P] [--dump FILE|-] [--principal ARN] [--once]
 *
 * SIGTERM / SIGINT: stops receiving, saves the state, acknowledges, writes the dump, exits 0.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { LOCAL_CALLER_HEADER } from "#scripts/local/http-api.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { agentTarget } from "#shared/agent/agent-target.ts";
import { NodeAgent } from "#shared/agent/node-agent.ts";
import { signingFetch } from "#shared/agent/sigv4-fetch.ts";
import { nodeNameSchema, type WatchedKind } from "#shared/api/watcher-registry.ts";
import { OUTPUT_KINDS } from "#shared/core/output-changes.ts";

const USAGE = `usage: npm run agent -- --node NAME --target .sliceline/local.json|<cdk outputs file> [options]
  --zone Z              the node's zone (topology.kubernetes.io/zone)
  --zone-only           receive only the endpoints of that zone
  --kinds LIST          comma-separated kinds (default: all three)
  --stack NAME          the stack in a cdk outputs file holding several
  --state-dir DIR       keep the state here and resume from it (default .sliceline/agent)
  --no-state            keep no state (every start lists)
  --metrics-port P      serve /metrics and /healthz on 127.0.0.1:P (0: any free port)
  --dump FILE|-         write the IPCache and Service backends (JSON) to FILE when they change, or to stdout on exit
  --principal ARN       locally: call the API as this IAM principal (the runner's ${LOCAL_CALLER_HEADER} header)
  --sign                sign API calls with SigV4 even for a local target (LocalStack)
  --once                exit once converged (the queue drained after the start)
  --snapshot-interval S seconds between state saves (default 5)
  --ack-interval S      seconds between acknowledgements (default 5)`;

const ALL_KINDS: readonly WatchedKind[] = OUTPUT_KINDS;

const { values } = parseArgs({
  options: {
    node: { type: "string" },
    zone: { type: "string" },
    "zone-only": { type: "boolean", default: false },
    kinds: { type: "string" },
    target: { type: "string", default: ".sliceline/local.json" },
    stack: { type: "string" },
    "state-dir": { type: "string", default: ".sliceline/agent" },
    "no-state": { type: "boolean", default: false },
    "metrics-port": { type: "string" },
    dump: { type: "string" },
    principal: { type: "string" },
    sign: { type: "boolean", default: false },
    once: { type: "boolean", default: false },
    "snapshot-interval": { type: "string", default: "5" },
    "ack-interval": { type: "string", default: "5" },
    help: { type: "boolean", default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const node = nodeNameSchema.safeParse(values.node);
if (!node.success) fail(`--node: ${values.node === undefined ? "required" : node.error.issues[0]?.message}`);
const kinds = (values.kinds?.split(",").map((kind) => kind.trim()) ?? ALL_KINDS) as WatchedKind[];
for (const kind of kinds) if (!ALL_KINDS.includes(kind)) fail(`--kinds: unknown kind ${kind}`);

const target = agentTarget(JSON.parse(readFileSync(values.target, "utf8")), {
  ...(values.stack === undefined ? {} : { stack: values.stack }),
  ...(process.env.AWS_REGION === undefined ? {} : { region: process.env.AWS_REGION }),
});
const signed = target.aws || values.sign;
const credentials = signed ? defaultProvider() : undefined;
let apiFetch: typeof fetch | undefined;
if (credentials !== undefined) apiFetch = signingFetch({ region: target.region, credentials });
else if (values.principal !== undefined) {
  const principal = values.principal;
  apiFetch = (input, init = {}) =>
    fetch(input, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), [LOCAL_CALLER_HEADER]: principal },
    });
}

const agent = new NodeAgent({
  api: target.api,
  node: node.data,
  zone: values.zone,
  zoneOnly: values["zone-only"],
  kinds,
  sqs: createSqsClient({
    region: target.region,
    ...(target.sqsEndpoint === undefined ? {} : { endpoint: target.sqsEndpoint }),
    ...(credentials === undefined && !target.aws
      ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } }
      : {}),
  }),
  ...(apiFetch === undefined ? {} : { fetch: apiFetch }),
  stateDir: values["no-state"] ? undefined : values["state-dir"],
  snapshotIntervalMs: Number(values["snapshot-interval"]) * 1000,
  ackIntervalMs: Number(values["ack-interval"]) * 1000,
  metricsPort: values["metrics-port"] === undefined ? undefined : Number(values["metrics-port"]),
  dump: values.dump,
  // --once: a quiet queue answers within a second, not the long poll's 20 s.
  ...(values.once ? { waitSeconds: 1 } : {}),
  log: (line, fields) =>
    process.stderr.write(`${line}${fields === undefined ? "" : ` ${JSON.stringify(fields)}`}\n`),
});

const report = await agent.start();
process.stderr.write(
  `agent ${node.data}: ${report.mode === "resumed" ? "resumed from its saved state" : `listed (${report.reason})`}, ${report.objectsRead} objects read from the API${agent.metricsUrl === undefined ? "" : `; metrics on ${agent.metricsUrl}/metrics`}\n`,
);

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await agent.stop();
  process.exit(code);
}
process.on("SIGTERM", () => void stop(0));
process.on("SIGINT", () => void stop(0));

if (values.once) {
  const drainedAtStart = agent.agent.stats.drained;
  const timer = setInterval(() => {
    if (agent.agent.stats.drained > drainedAtStart) {
      clearInterval(timer);
      void stop(0);
    }
  }, 100);
}
