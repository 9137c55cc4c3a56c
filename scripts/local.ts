/**
 * The whole pipeline on this machine, no AWS account:
 *
 *   npm run local [-- --api-port N --watch-port N --dynamodb-port N --sqs-port N --cdk-out DIR --config FILE --no-demo]
 *
 * Starts DynamoDB Local and fauxqs on 127.0.0.1, builds queues, tables, streams and topics from
 * the synthesized CDK template, runs the real handlers behind emulated event sources, serves the
 * HTTP API, writes .sliceline/local.json (--config), loads a small demo, and runs until Ctrl-C.
 * See scripts/local/runner.ts.
 */
import { parseArgs } from "node:util";
import { type DemoResult, LIST_PATHS, runDemo } from "./local/demo.ts";
import { type LocalRunner, startLocalRunner } from "./local/runner.ts";

const { values } = parseArgs({
  options: {
    "api-port": { type: "string" },
    "watch-port": { type: "string" },
    "dynamodb-port": { type: "string" },
    "sqs-port": { type: "string" },
    "cdk-out": { type: "string" },
    config: { type: "string", default: ".sliceline/local.json" },
    backend: { type: "string", default: process.env.SLICELINE_BACKEND ?? "embedded" },
    "localstack-endpoint": {
      type: "string",
      default: process.env.LOCALSTACK_ENDPOINT ?? "http://127.0.0.1:4566",
    },
    context: { type: "string", short: "c", multiple: true },
    "no-demo": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(`usage: npm run local -- [options]
  --api-port N        HTTP API port on 127.0.0.1 (default: a free port)
  --watch-port N      the watch function URL's port (streaming watches; default: a free port)
  --dynamodb-port N   DynamoDB Local port (default: a free port)
  --sqs-port N        fauxqs (SQS + SNS) port (default: a free port)
  --config FILE       where to write the endpoints and names (default .sliceline/local.json)
  --cdk-out DIR       read the template from an existing cloud assembly instead of synthesizing
  --backend NAME      embedded (DynamoDB Local + fauxqs, default) or localstack (its SQS, SNS,
                      DynamoDB and Streams; free tier is enough); also SLICELINE_BACKEND
  --localstack-endpoint URL  default http://127.0.0.1:4566 (also LOCALSTACK_ENDPOINT)
  -c key=value        CDK context for the synth (as with cdk synth -c), repeatable
  --no-demo           start the pipeline only
  --verbose           the handlers' INFO logs`);
  process.exit(0);
}

const CONFIG_PATH = values.config;

function port(name: string, value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name}: not a port: ${value}`);
  return n;
}

function context(pairs: readonly string[] = []): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new Error(`-c ${pair}: expected key=value`);
    const raw = pair.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {}
    result[pair.slice(0, at)] = value;
  }
  return result;
}

const log = (line: string) => console.log(`[local] ${line}`);
const started = performance.now();
let runner: LocalRunner | undefined;
let stopping: Promise<void> | undefined;

function shutdown(signal: string): void {
  if (stopping !== undefined) return;
  log(`${signal}: stopping pollers, HTTP API, fauxqs and DynamoDB Local...`);
  stopping = (runner?.stop() ?? Promise.resolve()).then(
    () => {
      log("stopped");
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));

try {
  if (values.backend !== "embedded" && values.backend !== "localstack") {
    throw new Error(`--backend: embedded or localstack, not ${values.backend}`);
  }
  // LocalStack serves every service on one endpoint; the runner then starts no backend of its own.
  const localstack = values.backend === "localstack" ? values["localstack-endpoint"] : undefined;
  runner = await startLocalRunner({
    ...(localstack === undefined
      ? {}
      : { dynamodbEndpoint: localstack, sqsEndpoint: localstack, snsEndpoint: localstack }),
    apiPort: port("api-port", values["api-port"]),
    watchPort: port("watch-port", values["watch-port"]),
    dynamodbPort: port("dynamodb-port", values["dynamodb-port"]),
    sqsPort: port("sqs-port", values["sqs-port"]),
    ...(values["cdk-out"] === undefined ? { outdir: ".sliceline/cdk.out" } : { cdkOut: values["cdk-out"] }),
    context: context(values.context),
    logLevel: values.verbose ? "INFO" : "WARN",
    log,
  });
  runner.writeConfig(CONFIG_PATH);
  log(`wrote ${CONFIG_PATH}; ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (stopping === undefined) {
    for (const source of runner.sqsSources)
      log(
        `  ${source.name}: batch ${source.settings.batchSize}, window ${source.settings.maximumBatchingWindowInSeconds} s, ${source.settings.maximumConcurrency} pollers`,
      );
    for (const source of runner.streamSources)
      log(
        `  ${source.name}: batch ${source.settings.batchSize}, bisect ${source.settings.bisectBatchOnFunctionError}, retries ${source.settings.maximumRetryAttempts}, max age ${source.settings.maximumRecordAgeInSeconds} s`,
      );
  }
  if (!values["no-demo"] && stopping === undefined) {
    log("demo: loading a small cluster through the ingest queues");
    const result = await runDemo(runner, log);
    printSummary(runner, result);
  }
  printHowTo(runner);
  log("running; Ctrl-C stops everything");
} catch (error) {
  if (stopping === undefined) {
    console.error(error);
    await runner?.stop().catch(() => {});
    process.exit(1);
  }
}

function printSummary(r: LocalRunner, result: DemoResult): void {
  const c = r.counters;
  console.log("");
  console.log(
    `demo: ${result.pods} pods behind ${result.services} Services in ${result.namespaces.length} namespaces (${result.namespaces.join(", ")})`,
  );
  console.log(
    `  served now: ${result.counts.EndpointSlice} EndpointSlices, ${result.counts.CiliumEndpointSlice} CiliumEndpointSlices, ${result.counts.CiliumIdentity} CiliumIdentities`,
  );
  console.log(
    `  ingest invocations ${c.ingestInvocations} (failed messages ${c.ingestFailedMessages}), fan-out invocations ${c.fanoutInvocations} (failed batches ${c.fanoutFailedBatches}, sent to the failure queue ${c.fanoutFailuresSent})`,
  );
  for (const watcher of result.watchers)
    console.log(
      `  watcher ${watcher.node} ${JSON.stringify(watcher.request)}: ${watcher.messages} change messages waiting on ${watcher.queueUrl}`,
    );
}

function printHowTo(r: LocalRunner): void {
  const api = r.config.api;
  const sqs = r.config.sqs;
  console.log("");
  console.log(`query it (endpoints and names also in ${CONFIG_PATH}):`);
  console.log(`  curl -s ${api}${LIST_PATHS.EndpointSlice} | jq '.items[].metadata.name'`);
  console.log(
    `  curl -s '${api}/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?labelSelector=kubernetes.io/service-name=web'`,
  );
  console.log(`  curl -s ${api}${LIST_PATHS.CiliumIdentity}`);
  console.log(`  curl -s ${api}/v1/stats`);
  console.log(`  kubectl --server=${api} get endpointslices -n shop`);
  console.log(`  kubectl --server=${api} get ciliumendpointslices,ciliumidentities`);
  if (r.config.watchUrl !== undefined)
    console.log(
      `  kubectl --server=${r.config.watchUrl} get endpointslices -A -w   # the streaming watch function URL`,
    );
  console.log(
    "send watch events, read a watcher's queue (any SQS client; dummy credentials, region us-east-1):",
  );
  console.log(
    `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url ${sqs.endpoint} --region us-east-1 sqs send-message --queue-url ${sqs.ingestQueueUrl} --message-body '{"events":[...]}'`,
  );
  console.log(
    `  curl -s -X POST ${api}/v1/watchers -H 'content-type: application/json' -d '{"node":"my-node","kinds":["EndpointSlice"]}'`,
  );
  console.log(
    `  dead letters: ${sqs.deadLetterQueueUrl ?? "-"}; fan-out failures: ${sqs.fanoutFailureQueueUrl ?? "-"}`,
  );
}
