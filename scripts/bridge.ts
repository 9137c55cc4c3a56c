/**
 * `npm run bridge -- --kubeconfig FILE --target .sliceline/local.json|<stack outputs file>`:
 * watches a Kubernetes cluster and feeds sliceline's ingest queues (shared/bridge/bridge.ts).
 *
 * Container-friendly: every flag has a SLICELINE_BRIDGE_* environment variable; in a pod without
 * a kubeconfig it uses its service account. Logs are JSON lines on stdout. SIGTERM or SIGINT
 * stops watching and sends what is queued (up to --drain-timeout).
 * Exit codes: 0 stopped and drained; 1 failed; 2 bad usage or configuration; 3 stopped with
 * events left unsent (the next start's resync covers them).
 */
import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { Bridge, type LogLevel } from "#shared/bridge/bridge.ts";
import {
  BRIDGE_USAGE,
  type BridgeConfig,
  BridgeConfigError,
  parseBridgeConfig,
  type QueueTarget,
  queueTargetFromFile,
} from "#shared/bridge/bridge-config.ts";
import { KubeClusterSource } from "#shared/bridge/kube-source.ts";
import { startMetricsServer } from "#shared/bridge/metrics-server.ts";
import { SqsBatchTransport } from "#shared/bridge/sqs-transport.ts";

const EXIT = { ok: 0, failed: 1, usage: 2, undrained: 3 } as const;

function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`,
  );
}

function queueTarget(config: BridgeConfig): QueueTarget {
  if (config.target === undefined) {
    return {
      ingestQueueUrl: config.ingestQueueUrl as string,
      priorityQueueUrl: config.priorityQueueUrl,
      sqsEndpoint: undefined,
      region: undefined,
    };
  }
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(config.target, "utf8"));
  } catch (error) {
    throw new BridgeConfigError(`target ${config.target}: ${(error as Error).message}`);
  }
  const target = queueTargetFromFile(document, config.stack);
  return {
    ...target,
    ingestQueueUrl: config.ingestQueueUrl ?? target.ingestQueueUrl,
    priorityQueueUrl: config.priorityQueueUrl ?? target.priorityQueueUrl,
  };
}

function kubeConfig(config: BridgeConfig): KubeConfig {
  const kube = new KubeConfig();
  if (config.kubeconfig !== undefined) kube.loadFromFile(config.kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST !== undefined) kube.loadFromCluster();
  else kube.loadFromDefault();
  if (config.context !== undefined) kube.setCurrentContext(config.context);
  if (kube.getCurrentCluster() === null) throw new BridgeConfigError("kubeconfig: no current cluster");
  return kube;
}

async function main(): Promise<number> {
  let config: BridgeConfig;
  let target: QueueTarget;
  let kube: KubeConfig;
  try {
    config = parseBridgeConfig(process.argv.slice(2), process.env);
    target = queueTarget(config);
    kube = kubeConfig(config);
  } catch (error) {
    if (!(error instanceof BridgeConfigError) && !(error instanceof Error)) throw error;
    process.stderr.write(`${error.message}\n${BRIDGE_USAGE}\n`);
    return EXIT.usage;
  }
  // An emulated pipeline (the local runner, LocalStack) takes any credentials; AWS needs real ones.
  const localCredentials =
    target.sqsEndpoint !== undefined && process.env.AWS_ACCESS_KEY_ID === undefined
      ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } }
      : {};
  const sqs = createSqsClient({
    ...(target.sqsEndpoint === undefined ? {} : { endpoint: target.sqsEndpoint }),
    ...(target.region === undefined ? {} : { region: target.region }),
    ...localCredentials,
  });
  const bridge = new Bridge({
    source: new KubeClusterSource(kube),
    transport: new SqsBatchTransport(sqs, {
      ingest: target.ingestQueueUrl,
      priority: target.priorityQueueUrl,
    }),
    priorityNamespaces: config.priorityNamespaces,
    maxQueueEvents: config.maxQueueEvents,
    maxQueueBytes: config.maxQueueBytes,
    senders: config.senders,
    resyncIntervalMs: config.resyncIntervalSeconds * 1000,
    log,
  });
  let started = false;
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : await startMetricsServer(
          config.metricsPort,
          () => bridge.metrics.prometheus(bridge.gauges),
          () => started,
        );
  log("info", "bridge starting", {
    cluster: kube.getCurrentCluster()?.server,
    ingestQueueUrl: target.ingestQueueUrl,
    priorityQueueUrl: target.priorityQueueUrl,
    priorityNamespaces: config.priorityNamespaces,
    metricsPort: metricsServer?.port,
  });

  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log("info", "stopping: draining the queue", { signal, pending: bridge.pending });
      void bridge.stop(config.drainTimeoutSeconds * 1000).then((outcome) => {
        log(outcome.drained ? "info" : "warn", "stopped", {
          ...outcome,
          metrics: bridge.metrics.snapshot(bridge.gauges),
        });
        resolve(outcome.drained ? EXIT.ok : EXIT.undrained);
      });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
  await bridge.start();
  started = true;
  log("info", "bridge watching", { metrics: bridge.metrics.snapshot(bridge.gauges) });
  const ticker =
    config.logIntervalSeconds > 0
      ? setInterval(
          () => log("info", "metrics", bridge.metrics.snapshot(bridge.gauges)),
          config.logIntervalSeconds * 1000,
        )
      : undefined;
  const code = await stopped;
  clearInterval(ticker);
  await metricsServer?.close();
  sqs.destroy();
  return code;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log("error", "bridge failed", {
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    process.exit(EXIT.failed);
  },
);
