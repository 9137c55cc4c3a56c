/**
 * A SigV4-signing proxy on 127.0.0.1 for a deployed stack's IAM-auth endpoints, so kubectl (which
 * cannot sign) can use them (docs/watch.md "Streaming watches through the function URL"):
 *
 *   npm run watch-proxy -- --target cdk-outputs.json [--stack NAME] [--port 8001] [--api]
 *   kubectl --server http://127.0.0.1:8001 get endpointslices -A -w
 *
 * By default it forwards to the stack's WatchUrl (the streaming watch function URL, service
 * `lambda`); with --api to its ApiUrl (API Gateway, service `execute-api`, where a watch is a long
 * poll). Credentials: the AWS SDK's default chain (environment, profile, SSO, instance role); the
 * caller needs lambda:InvokeFunctionUrl and lambda:InvokeFunction (via the URL) on the watch
 * function, as the stack's NodeAgentPolicyArn grants.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { proxyTarget, startSigningProxy } from "#shared/agent/signing-proxy.ts";

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "cdk-outputs.json" },
    stack: { type: "string" },
    port: { type: "string", default: "8001" },
    api: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(`usage: npm run watch-proxy -- [options]
  --target FILE   cdk deploy --outputs-file output (default cdk-outputs.json)
  --stack NAME    the stack, when the file holds several
  --port N        127.0.0.1 port (default 8001; 0: a free one)
  --api           proxy the HTTP API (execute-api) instead of the watch function URL (lambda)`);
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  throw new Error(`--port: not a port: ${values.port}`);
const target = proxyTarget(JSON.parse(readFileSync(values.target, "utf8")), {
  stack: values.stack,
  api: values.api,
  region: process.env.AWS_REGION,
});
const proxy = await startSigningProxy({
  ...target,
  credentials: defaultProvider(),
  port,
  log: (line) => console.error(`[watch-proxy] ${line}`),
});
console.log(
  `[watch-proxy] ${proxy.url} -> ${target.upstream} (SigV4, service ${target.service}, ${target.region})`,
);
console.log(`[watch-proxy] kubectl --server ${proxy.url} get endpointslices -A -w`);
const stop = () => void proxy.stop().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
