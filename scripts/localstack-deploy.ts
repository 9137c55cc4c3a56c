/**
 * LocalStack deploy mode: the CDK app itself, deployed to LocalStack by cdklocal, then described in
 * .sliceline/local.json (docs/contract.md §5) so `npm run test:localstack` and other tools find it.
 *
 *   npm run localstack:deploy [-- --endpoint URL --api-url URL --skip-bootstrap -c key=value ...]
 *   npm run localstack:deploy -- --from-outputs     (only rewrite local.json from the outputs file)
 *
 * Needs a running LocalStack that can run Lambda (a Docker socket) and serves API Gateway v2
 * (not the free tier); see the README's LocalStack section for what was verified where.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { cdklocalEnvironment } from "./localstack/cdklocal-environment.ts";
import { deployedConfig, type StackOutputs } from "./localstack/deployed-config.ts";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: process.env.LOCALSTACK_ENDPOINT },
    "api-url": { type: "string" },
    stack: { type: "string" },
    outputs: { type: "string", default: ".sliceline/localstack-outputs.json" },
    config: { type: "string", default: ".sliceline/local.json" },
    "skip-bootstrap": { type: "boolean", default: false },
    "from-outputs": { type: "boolean", default: false },
    context: { type: "string", short: "c", multiple: true },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(`usage: npm run localstack:deploy -- [options]
  --endpoint URL      LocalStack edge endpoint (also LOCALSTACK_ENDPOINT; default: cdklocal's,
                      http://localhost.localstack.cloud:4566, EDGE_PORT and USE_SSL honoured)
  --api-url URL       the HTTP API's URL, if LocalStack serves it elsewhere than <id>.execute-api.<host>
  --stack NAME        the stack to read from the outputs (default: the only one)
  --outputs FILE      cdk's outputs file (default .sliceline/localstack-outputs.json)
  --config FILE       where to describe the deployed pipeline (default .sliceline/local.json)
  --skip-bootstrap    the CDK bootstrap stack is already in LocalStack
  --from-outputs      do not deploy: write the config from an existing outputs file
  -c key=value        CDK context (as with cdk deploy -c), repeatable`);
  process.exit(0);
}

const log = (line: string) => console.log(`[localstack] ${line}`);
const { env, endpoint, region } = cdklocalEnvironment(process.env, values.endpoint);

function cdklocal(args: readonly string[]): Promise<void> {
  log(`cdklocal ${args.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn("node_modules/.bin/cdklocal", args, { stdio: "inherit", env });
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`cdklocal ${args[0]}: exit ${code ?? signal}`)),
    );
  });
}

const started = performance.now();
try {
  if (!values["from-outputs"]) {
    const context = (values.context ?? []).flatMap((pair) => ["-c", pair]);
    log(`endpoint ${endpoint}, region ${region}`);
    if (!values["skip-bootstrap"]) await cdklocal(["bootstrap", ...context]);
    mkdirSync(dirname(values.outputs), { recursive: true });
    await cdklocal([
      "deploy",
      ...(values.stack === undefined ? ["--all"] : [values.stack]),
      "--require-approval",
      "never",
      "--outputs-file",
      values.outputs,
      ...context,
    ]);
  }
  const outputs = JSON.parse(readFileSync(values.outputs, "utf8")) as StackOutputs;
  const config = deployedConfig({
    outputs,
    endpoint,
    region,
    outputsFile: values.outputs,
    deployedAt: new Date().toISOString(),
    ...(values.stack === undefined ? {} : { stackName: values.stack }),
    ...(values["api-url"] === undefined ? {} : { apiUrl: values["api-url"] }),
  });
  mkdirSync(dirname(values.config), { recursive: true });
  writeFileSync(values.config, `${JSON.stringify(config, null, 2)}\n`);
  log(`wrote ${values.config} (stack ${config.stackName}, API ${config.api})`);
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s; next: npm run test:localstack`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
