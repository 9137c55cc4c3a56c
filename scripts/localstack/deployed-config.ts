/**
 * From `cdk deploy --outputs-file` to .sliceline/local.json: the deployed pipeline described in the
 * shape the local runner writes (docs/contract.md §5), so tools and tests find either the same way.
 * Pure: outputs, endpoint and region in, the config out; the caller reads and writes files.
 */
import type { PipelineEndpoints } from "#scripts/local/runner.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";

/** `cdk deploy --outputs-file` content: stack name -> output name -> value. */
export type StackOutputs = Readonly<Record<string, Readonly<Record<string, string>>>>;

export interface DeployedConfig extends PipelineEndpoints {
  readonly mode: "localstack-deploy";
  readonly stackName: string;
  readonly outputsFile: string;
  readonly deployedAt: string;
}

export interface DeployedConfigInput {
  readonly outputs: StackOutputs;
  /** The stack to read; optional when the file holds one stack. */
  readonly stackName?: string;
  /** LocalStack's edge endpoint, e.g. http://localhost.localstack.cloud:4566. */
  readonly endpoint: string;
  readonly region: string;
  /** Overrides the API URL derived from the outputs. */
  readonly apiUrl?: string;
  readonly outputsFile: string;
  readonly deployedAt: string;
}

export class StackOutputsError extends Error {
  override name = "StackOutputsError";
}

export function deployedConfig(input: DeployedConfigInput): DeployedConfig {
  const [stackName, outputs] = pickStack(input.outputs, input.stackName);
  const required = (name: string): string => {
    const value = outputs[name];
    if (value === undefined || value === "")
      throw new StackOutputsError(
        `stack ${stackName}: output ${name} is missing (deployed from an older app?)`,
      );
    return value;
  };
  const optional = (name: string): string | undefined => {
    const value = outputs[name];
    return value === undefined || value === "" ? undefined : value;
  };
  const entries = (pairs: Array<[string, string | undefined]>) =>
    Object.fromEntries(pairs.filter((pair): pair is [string, string] => pair[1] !== undefined));

  const queues = {
    ingestQueueUrl: required("IngestQueueUrl"),
    priorityIngestQueueUrl: optional("PriorityIngestQueueUrl"),
    deadLetterQueueUrl: optional("DeadLetterQueueUrl"),
    fanoutFailureQueueUrl: optional("FanoutFailureQueueUrl"),
  };
  const streamArn = optional("SlicesTableStreamArn");
  const watchUrl = optional("WatchUrl");
  return {
    mode: "localstack-deploy",
    api: input.apiUrl ?? apiUrlOf(required("ApiId"), optional("ApiUrl"), input.endpoint),
    // As the stack reports it (a stack from before the watch function has none).
    ...(watchUrl === undefined ? {} : { watchUrl }),
    region: input.region,
    sqs: {
      endpoint: input.endpoint,
      ...entries([
        ["priorityIngestQueueUrl", queues.priorityIngestQueueUrl],
        ["deadLetterQueueUrl", queues.deadLetterQueueUrl],
        ["fanoutFailureQueueUrl", queues.fanoutFailureQueueUrl],
      ]),
      ingestQueueUrl: queues.ingestQueueUrl,
      queues: entries([
        [LOGICAL_IDS.ingestQueue, queues.ingestQueueUrl],
        [LOGICAL_IDS.priorityIngestQueue, queues.priorityIngestQueueUrl],
        [LOGICAL_IDS.deadLetterQueue, queues.deadLetterQueueUrl],
        [LOGICAL_IDS.fanoutFailureQueue, queues.fanoutFailureQueueUrl],
      ]),
    },
    sns: { endpoint: input.endpoint, topics: topicsOf(stackName, outputs) },
    dynamodb: {
      endpoint: input.endpoint,
      tables: entries([
        [LOGICAL_IDS.stateTable, optional("StateTableName")],
        [LOGICAL_IDS.slicesTable, optional("SlicesTableName")],
        [LOGICAL_IDS.identitiesTable, optional("IdentitiesTableName")],
        [LOGICAL_IDS.watchersTable, optional("WatchersTableName")],
      ]),
      streams: entries([[LOGICAL_IDS.slicesTable, streamArn]]),
    },
    stackName,
    outputsFile: input.outputsFile,
    deployedAt: input.deployedAt,
  };
}

function pickStack(
  outputs: StackOutputs,
  wanted: string | undefined,
): [string, Readonly<Record<string, string>>] {
  const names = Object.keys(outputs);
  const name = wanted ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined)
    throw new StackOutputsError(`outputs hold ${names.length} stacks (${names.join(", ")}): name one`);
  const stack = outputs[name];
  if (stack === undefined)
    throw new StackOutputsError(`no stack ${name} in the outputs (${names.join(", ")})`);
  return [name, stack];
}

function topicsOf(stackName: string, outputs: Readonly<Record<string, string>>): Record<string, string> {
  const topics: Record<string, string> = {};
  const json = outputs.ChangeTopicArns;
  if (json !== undefined && json !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new StackOutputsError(`stack ${stackName}: ChangeTopicArns is not JSON: ${json}`);
    }
    for (const [id, arn] of Object.entries(parsed as Record<string, unknown>))
      if (typeof arn === "string") topics[id] = arn;
  }
  if (outputs.AlarmTopicArn !== undefined) topics.AlarmTopic = outputs.AlarmTopicArn;
  return topics;
}

/**
 * The API's URL as reached from this machine. CloudFormation's ApiEndpoint on AWS is
 * https://<id>.execute-api.<region>.amazonaws.com, which does not reach LocalStack: LocalStack
 * serves an API on <id>.execute-api.localhost.localstack.cloud:<edge port> (its documented URL
 * form; the $default stage has no path prefix). A value LocalStack already rewrote is kept.
 */
export function apiUrlOf(apiId: string, apiEndpoint: string | undefined, endpoint: string): string {
  if (apiEndpoint !== undefined && !/\.amazonaws\.com(\.cn)?(:\d+)?\/?$/.test(apiEndpoint))
    return apiEndpoint.replace(/\/$/, "");
  const edge = new URL(endpoint);
  const local = ["localhost", "127.0.0.1", "[::1]", "localhost.localstack.cloud"].includes(edge.hostname);
  const host = local ? "localhost.localstack.cloud" : edge.hostname;
  return `${edge.protocol}//${apiId}.execute-api.${host}${edge.port === "" ? "" : `:${edge.port}`}`;
}
