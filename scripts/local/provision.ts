/**
 * Creates the template's queues, tables (keys, GSIs, stream, TTL) and topics on the local
 * backends, straight from their CloudFormation properties, and returns what each logical id
 * resolves to (names, URLs, ARNs). Idempotent: a second runner on the same backends finds the
 * resources and reuses them.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { CreateTopicCommand, type SNSClient } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { IntrinsicResolver, type LoadedTemplate, type LocalResource, resourcesOfType } from "./template.ts";

export const LOCAL_REGION = "us-east-1";
export const LOCAL_ACCOUNT = "000000000000";

export interface QueueInfo {
  readonly logicalId: string;
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface TableInfo {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly streamArn: string | undefined;
  readonly timeToLiveAttribute: string | undefined;
}

export interface TopicInfo {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
}

export interface Provisioned {
  readonly queues: ReadonlyMap<string, QueueInfo>;
  readonly tables: ReadonlyMap<string, TableInfo>;
  readonly topics: ReadonlyMap<string, TopicInfo>;
  readonly resolver: IntrinsicResolver;
  queueByArn(arn: string): QueueInfo | undefined;
}

export interface ProvisionClients {
  readonly sqs: SQSClient;
  readonly sns: SNSClient;
  readonly dynamodb: DynamoDBClient;
}

/** Local physical names: <stack>-<logical id>, unless the template names the resource itself. */
function physicalName(stackName: string, logicalId: string, declared: unknown): string {
  return typeof declared === "string" ? declared : `${stackName}-${logicalId}`;
}

/** Queue properties that are SQS attributes with the same name (RedrivePolicy is set afterwards). */
const QUEUE_ATTRIBUTES = [
  "DelaySeconds",
  "MaximumMessageSize",
  "MessageRetentionPeriod",
  "ReceiveMessageWaitTimeSeconds",
  "VisibilityTimeout",
  "SqsManagedSseEnabled",
] as const;

export async function provision(loaded: LoadedTemplate, clients: ProvisionClients): Promise<Provisioned> {
  const { template, stackName } = loaded;
  const local = new Map<string, LocalResource>();
  const pseudo = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT, stackName };
  const resolver = new IntrinsicResolver(local, pseudo);

  // Queues first without redrive (a redrive policy names another queue's ARN), then the policies.
  const queues = new Map<string, QueueInfo>();
  const queueResources = resourcesOfType(template, "AWS::SQS::Queue");
  for (const [id, resource] of queueResources) {
    const properties = resource.Properties ?? {};
    if (properties.FifoQueue === true) throw new Error(`${id}: FIFO queues are not emulated`);
    const name = physicalName(stackName, id, properties.QueueName);
    const attributes: Record<string, string> = {};
    for (const key of QUEUE_ATTRIBUTES) {
      if (properties[key] !== undefined)
        attributes[key] = resolver.resolveString(properties[key], `${id}.${key}`);
    }
    const created = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
    );
    const url = created.QueueUrl as string;
    const described = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
    );
    const arn = described.Attributes?.QueueArn as string;
    local.set(id, { ref: url, attributes: { Arn: arn, QueueName: name, QueueUrl: url } });
    queues.set(id, { logicalId: id, name, url, arn, attributes });
  }
  for (const [id, resource] of queueResources) {
    const redrive = resource.Properties?.RedrivePolicy;
    if (redrive === undefined) continue;
    const policy = JSON.stringify(resolver.resolve(redrive, `${id}.RedrivePolicy`));
    const queue = queues.get(id) as QueueInfo;
    await clients.sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { RedrivePolicy: policy } }),
    );
    queues.set(id, { ...queue, attributes: { ...queue.attributes, RedrivePolicy: policy } });
  }

  const tables = new Map<string, TableInfo>();
  for (const [id, resource] of resourcesOfType(template, "AWS::DynamoDB::Table")) {
    const properties = resource.Properties ?? {};
    const name = physicalName(stackName, id, properties.TableName);
    const stream = properties.StreamSpecification as { StreamViewType?: string } | undefined;
    const billing = String(properties.BillingMode ?? "PROVISIONED");
    const throughput = { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };
    const indexes = properties.GlobalSecondaryIndexes as Array<Record<string, unknown>> | undefined;
    const input: CreateTableCommandInput = {
      TableName: name,
      AttributeDefinitions: resolver.resolve(properties.AttributeDefinitions) as never,
      KeySchema: resolver.resolve(properties.KeySchema) as never,
      BillingMode: billing === "PAY_PER_REQUEST" ? "PAY_PER_REQUEST" : "PROVISIONED",
      ...(billing === "PAY_PER_REQUEST" ? {} : { ProvisionedThroughput: throughput }),
      ...(indexes === undefined || indexes.length === 0
        ? {}
        : {
            GlobalSecondaryIndexes: indexes.map((index) => ({
              IndexName: index.IndexName as string,
              KeySchema: index.KeySchema as never,
              Projection: index.Projection as never,
              ...(billing === "PAY_PER_REQUEST" ? {} : { ProvisionedThroughput: throughput }),
            })),
          }),
      ...(properties.LocalSecondaryIndexes === undefined
        ? {}
        : { LocalSecondaryIndexes: properties.LocalSecondaryIndexes as never }),
      ...(stream?.StreamViewType === undefined
        ? {}
        : { StreamSpecification: { StreamEnabled: true, StreamViewType: stream.StreamViewType as never } }),
    };
    let fresh = true;
    try {
      await clients.dynamodb.send(new CreateTableCommand(input));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      fresh = false;
    }
    const ttl = properties.TimeToLiveSpecification as
      | { AttributeName?: string; Enabled?: boolean }
      | undefined;
    const timeToLiveAttribute = ttl?.Enabled === true ? ttl.AttributeName : undefined;
    if (fresh && timeToLiveAttribute !== undefined) {
      await clients.dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { Enabled: true, AttributeName: timeToLiveAttribute },
        }),
      );
    }
    const described = await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));
    const arn = described.Table?.TableArn as string;
    const streamArn = described.Table?.LatestStreamArn;
    local.set(id, {
      ref: name,
      attributes: { Arn: arn, ...(streamArn === undefined ? {} : { StreamArn: streamArn }) },
    });
    tables.set(id, { logicalId: id, name, arn, streamArn, timeToLiveAttribute });
  }

  const topics = new Map<string, TopicInfo>();
  for (const [id, resource] of resourcesOfType(template, "AWS::SNS::Topic")) {
    const properties = resource.Properties ?? {};
    const name = physicalName(stackName, id, properties.TopicName);
    const created = await clients.sns.send(new CreateTopicCommand({ Name: name }));
    const arn = created.TopicArn as string;
    local.set(id, { ref: arn, attributes: { TopicArn: arn, TopicName: name } });
    topics.set(id, { logicalId: id, name, arn });
  }

  // Functions run in-process; their names and ARNs only label events and failure records.
  for (const [id] of resourcesOfType(template, "AWS::Lambda::Function")) {
    const name = `${stackName}-${id}`;
    local.set(id, {
      ref: name,
      attributes: { Arn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}` },
    });
  }

  return {
    queues,
    tables,
    topics,
    resolver,
    queueByArn: (arn) => [...queues.values()].find((queue) => queue.arn === arn),
  };
}
