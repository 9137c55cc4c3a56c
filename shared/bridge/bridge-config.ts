/**
 * The bridge's settings from flags and environment variables (a flag wins), and where its queues
 * are: a `.sliceline/local.json` (docs/contract.md §5) or any file of that shape, a `cdk deploy
 * --outputs-file` document, or queue URLs given directly. Pure: the caller reads the file.
 */
import { BRIDGE_ENV, DEFAULT_PRIORITY_NAMESPACES } from "#shared/config/resources.ts";

export class BridgeConfigError extends Error {
  override name = "BridgeConfigError";
}

export interface BridgeConfig {
  /** Path of a kubeconfig; undefined: in-cluster service account, else the default kubeconfig. */
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  /** Path of the target file, when the queues come from one. */
  readonly target: string | undefined;
  readonly stack: string | undefined;
  readonly ingestQueueUrl: string | undefined;
  readonly priorityQueueUrl: string | undefined;
  readonly priorityNamespaces: readonly string[];
  readonly metricsPort: number | undefined;
  readonly logIntervalSeconds: number;
  readonly maxQueueEvents: number;
  readonly maxQueueBytes: number;
  readonly senders: number;
  readonly resyncIntervalSeconds: number;
  readonly drainTimeoutSeconds: number;
}

/** Where the events go, as read from a target file or given directly. */
export interface QueueTarget {
  readonly ingestQueueUrl: string;
  readonly priorityQueueUrl: string | undefined;
  /** The SQS endpoint of a local or emulated pipeline; undefined for AWS itself. */
  readonly sqsEndpoint: string | undefined;
  readonly region: string | undefined;
}

const FLAGS: Record<string, keyof typeof BRIDGE_ENV> = {
  "--kubeconfig": "kubeconfig",
  "--context": "context",
  "--target": "target",
  "--stack": "stack",
  "--ingest-queue-url": "ingestQueueUrl",
  "--priority-queue-url": "priorityQueueUrl",
  "--priority-namespaces": "priorityNamespaces",
  "--metrics-port": "metricsPort",
  "--log-interval": "logIntervalSeconds",
  "--max-queue-events": "maxQueueEvents",
  "--max-queue-bytes": "maxQueueBytes",
  "--senders": "senders",
  "--resync-interval": "resyncIntervalSeconds",
  "--drain-timeout": "drainTimeoutSeconds",
};

export const BRIDGE_USAGE = `usage: npm run bridge -- [--kubeconfig FILE] [--context NAME] (--target FILE [--stack NAME] | --ingest-queue-url URL [--priority-queue-url URL])
  [--priority-namespaces a,b] [--metrics-port N] [--log-interval S] [--max-queue-events N] [--max-queue-bytes N]
  [--senders N] [--resync-interval S] [--drain-timeout S]
Each flag has an environment variable: ${Object.values(BRIDGE_ENV).join(", ")}.`;

export function parseBridgeConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): BridgeConfig {
  const given: Partial<Record<keyof typeof BRIDGE_ENV, string>> = {};
  for (const [key, name] of Object.entries(BRIDGE_ENV) as Array<[keyof typeof BRIDGE_ENV, string]>) {
    const value = env[name];
    if (value !== undefined && value !== "") given[key] = value;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const key = FLAGS[flag];
    if (key === undefined) throw new BridgeConfigError(`unknown argument ${arg}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === "") throw new BridgeConfigError(`${flag} needs a value`);
    given[key] = value;
  }
  if (given.target === undefined && given.ingestQueueUrl === undefined)
    throw new BridgeConfigError("where to send: --target FILE or --ingest-queue-url URL");
  const number = (key: keyof typeof BRIDGE_ENV, fallback: number, min: number): number => {
    const raw = given[key];
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min)
      throw new BridgeConfigError(`${key}: want an integer >= ${min}, got ${JSON.stringify(raw)}`);
    return value;
  };
  const metricsPort = given.metricsPort === undefined ? undefined : number("metricsPort", 0, 0);
  return {
    kubeconfig: given.kubeconfig,
    context: given.context,
    target: given.target,
    stack: given.stack,
    ingestQueueUrl: given.ingestQueueUrl,
    priorityQueueUrl: given.priorityQueueUrl,
    priorityNamespaces:
      given.priorityNamespaces === undefined
        ? [...DEFAULT_PRIORITY_NAMESPACES]
        : given.priorityNamespaces
            .split(",")
            .map((name) => name.trim())
            .filter((name) => name !== ""),
    metricsPort,
    logIntervalSeconds: number("logIntervalSeconds", 30, 0),
    maxQueueEvents: number("maxQueueEvents", 100_000, 1),
    maxQueueBytes: number("maxQueueBytes", 64 * 1024 * 1024, 1024),
    senders: number("senders", 4, 1),
    resyncIntervalSeconds: number("resyncIntervalSeconds", 0, 0),
    drainTimeoutSeconds: number("drainTimeoutSeconds", 20, 0),
  };
}

/**
 * The queues named by a target file: docs/contract.md §5's `{"sqs": {"ingestQueueUrl", ...}}` (written
 * by the local runner or the LocalStack deploy), or CloudFormation outputs by stack
 * (`IngestQueueUrl`, `PriorityIngestQueueUrl`), as `cdk deploy --outputs-file` writes them.
 */
export function queueTargetFromFile(document: unknown, stack: string | undefined): QueueTarget {
  if (!isRecord(document)) throw new BridgeConfigError("target: not a JSON object");
  const sqs = document.sqs;
  if (isRecord(sqs)) {
    if (typeof sqs.ingestQueueUrl !== "string")
      throw new BridgeConfigError("target: sqs.ingestQueueUrl is missing");
    return {
      ingestQueueUrl: sqs.ingestQueueUrl,
      priorityQueueUrl:
        typeof sqs.priorityIngestQueueUrl === "string" ? sqs.priorityIngestQueueUrl : undefined,
      sqsEndpoint: typeof sqs.endpoint === "string" ? sqs.endpoint : undefined,
      region: typeof document.region === "string" ? document.region : undefined,
    };
  }
  const stacks = Object.entries(document).filter(
    ([, outputs]) => isRecord(outputs) && "IngestQueueUrl" in outputs,
  );
  const chosen =
    stack === undefined
      ? stacks.length === 1
        ? stacks[0]
        : undefined
      : stacks.find(([name]) => name === stack);
  if (chosen === undefined) {
    const names = stacks.map(([name]) => name).join(", ") || "none";
    throw new BridgeConfigError(
      stack === undefined
        ? `target: want one stack with an IngestQueueUrl output, found: ${names} (name one with --stack)`
        : `target: no stack ${stack} with an IngestQueueUrl output (found: ${names})`,
    );
  }
  const outputs = chosen[1] as Record<string, unknown>;
  const ingestQueueUrl = String(outputs.IngestQueueUrl);
  return {
    ingestQueueUrl,
    priorityQueueUrl:
      typeof outputs.PriorityIngestQueueUrl === "string" ? outputs.PriorityIngestQueueUrl : undefined,
    sqsEndpoint: undefined,
    region: /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(ingestQueueUrl)?.[1],
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
