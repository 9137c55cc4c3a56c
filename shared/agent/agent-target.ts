/**
 * Where the node agent finds the pipeline: `.sliceline/local.json` (the local runner's description,
 * docs/contract.md §5, or the one localstack:deploy writes) or `cdk deploy --outputs-file` output (a stack
 * on AWS). Pure: the parsed file in, the endpoints out.
 */
export interface AgentTarget {
  readonly api: string;
  readonly region: string;
  /** SQS endpoint to use (a local emulator); undefined: AWS's regional one. */
  readonly sqsEndpoint: string | undefined;
  /** A stack on AWS: API calls are SigV4-signed. */
  readonly aws: boolean;
}

export class AgentTargetError extends Error {
  override name = "AgentTargetError";
}

export function agentTarget(file: unknown, options: { stack?: string; region?: string } = {}): AgentTarget {
  if (typeof file !== "object" || file === null)
    throw new AgentTargetError("the target is not a JSON object");
  const record = file as Record<string, unknown>;
  if (typeof record.api === "string") {
    const sqs = record.sqs as { endpoint?: unknown } | undefined;
    return {
      api: record.api,
      region: typeof record.region === "string" ? record.region : (options.region ?? "us-east-1"),
      sqsEndpoint: typeof sqs?.endpoint === "string" ? sqs.endpoint : undefined,
      aws: false,
    };
  }
  const stacks = Object.entries(record).filter(
    ([, outputs]) => typeof outputs === "object" && outputs !== null && "ApiUrl" in outputs,
  );
  const chosen = options.stack === undefined ? stacks : stacks.filter(([name]) => name === options.stack);
  if (chosen.length !== 1)
    throw new AgentTargetError(
      chosen.length === 0
        ? "the target holds neither an api URL nor stack outputs with ApiUrl"
        : `the outputs hold several stacks (${chosen.map(([name]) => name).join(", ")}): name one with --stack`,
    );
  const [, outputs] = chosen[0] as [string, Record<string, unknown>];
  const api = String(outputs.ApiUrl);
  const region = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(api)?.[1] ?? options.region;
  if (region === undefined) throw new AgentTargetError(`cannot tell the region of ${api}: set AWS_REGION`);
  return { api, region, sqsEndpoint: undefined, aws: true };
}
