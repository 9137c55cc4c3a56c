/**
 * Alarms on what needs a human (anything in a dead-letter or failure queue, ingest messages handed
 * back to SQS, a fan-out falling behind its stream, failing functions, events waiting too long, the
 * identity range filling up) and one dashboard that reads like the pipeline, left to right: queues,
 * functions, stream, API, and the pipeline's own EMF metrics. Metric names and the namespace come
 * from shared/config/metric-names.ts, the list the handlers emit from.
 */
import { Aws, Duration } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Effect, PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { topicKey } from "#infra/constructs/change-topics.ts";
import { METRIC, METRICS_NAMESPACE } from "#shared/config/metric-names.ts";

type MetricName = (typeof METRIC)[keyof typeof METRIC];

export interface MonitoringProps {
  readonly ingestQueue: IQueue;
  readonly priorityQueue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly fanoutFailureQueue: IQueue;
  readonly ingestFunction: IFunction;
  /** The ingest function's Powertools service name: the `service` dimension of its EMF metrics. */
  readonly ingestServiceName: string;
  readonly fanoutFunction: IFunction;
  readonly apiFunction: IFunction;
  /** The streaming watch function (its concurrency is the number of open watches). */
  readonly watchFunction: IFunction;
  readonly httpApi: HttpApi;
  readonly iteratorAgeAlarmSeconds: number;
  readonly ingestQueueAgeAlarmSeconds: number;
  /** Subscribed to the alarm topic when given. */
  readonly alarmEmail?: string | undefined;
}

const ONE_MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

/** Identity-range alarms: Cilium's own advice is to act well before the range runs out. */
export const IDENTITY_RANGE_ALARM_PERCENTS = [80, 95] as const;

/**
 * One of a handler's EMF metrics as an alarm can read it: alarms cannot use SEARCH, so the
 * dimensions must be exactly those Powertools attaches (only `service`, the handler adds none).
 */
function serviceMetric(serviceName: string, name: MetricName, statistic: string, period: Duration): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: serviceName },
    statistic,
    period,
  });
}

/** The pipeline's EMF metric `name`, summed over whatever dimensions the handlers attach. */
function pipelineSum(name: MetricName, label: string): MathExpression {
  return new MathExpression({
    expression: `SUM(SEARCH('Namespace="${METRICS_NAMESPACE}" MetricName="${name}"', 'Sum', 60))`,
    usingMetrics: {},
    label,
    period: ONE_MINUTE,
  });
}

function pipelinePercentile(name: MetricName, percentile: string): MathExpression {
  return new MathExpression({
    expression: `SEARCH('Namespace="${METRICS_NAMESPACE}" MetricName="${name}"', '${percentile}', 60)`,
    usingMetrics: {},
    label: `${name} ${percentile}`,
    period: ONE_MINUTE,
  });
}

/** A queue metric, per minute; `label` only for graphs (a labelled alarm metric becomes metric math). */
function queueMetric(queue: IQueue, name: string, label?: string): Metric {
  return queue.metric(name, {
    statistic: "Maximum",
    period: ONE_MINUTE,
    ...(label === undefined ? {} : { label }),
  });
}

export class Monitoring extends Construct {
  readonly alarmTopic: Topic;
  readonly alarms: readonly Alarm[];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // Encrypted with its own key, which CloudWatch alarms of this account may use to publish
    // (AWS: CloudWatch needs kms:Decrypt and kms:GenerateDataKey* on an encrypted topic's key).
    const alarmKey = topicKey(this, "AlarmTopicKey", "sliceline alarm topic: server-side encryption");
    alarmKey.addToResourcePolicy(
      new PolicyStatement({
        sid: "CloudWatchAlarmsOfThisAccountPublish",
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
        conditions: {
          StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID },
          ArnLike: {
            "aws:SourceArn": `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
          },
        },
      }),
    );
    this.alarmTopic = new Topic(this, "AlarmTopic", {
      displayName: "sliceline alarms",
      enforceSSL: true,
      masterKey: alarmKey,
    });
    // A topic policy replaces the default one: let CloudWatch alarms of this account publish.
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.alarmTopic.topicArn],
        conditions: { StringEquals: { "aws:SourceAccount": this.alarmTopic.env.account } },
      }),
    );
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    }
    const action = new SnsAction(this.alarmTopic);
    const alarms: Alarm[] = [];
    const alarm = (alarmId: string, metric: IMetric, threshold: number, description: string, periods = 1) => {
      const created = new Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: periods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      alarms.push(created);
      return created;
    };

    alarm(
      "DeadLetterQueueDepth",
      queueMetric(props.deadLetterQueue, "ApproximateNumberOfMessagesVisible"),
      1,
      "Events in the ingest dead-letter queue: malformed events (reason in the message attributes) " +
        "or messages that failed maxReceiveCount times. Inspect, fix the producer, redrive.",
    );
    alarm(
      "FanoutFailureQueueDepth",
      queueMetric(props.fanoutFailureQueue, "ApproximateNumberOfMessagesVisible"),
      1,
      "The fan-out gave up on stream records (retries or maximum record age exhausted): watchers " +
        "missed changes and must re-list.",
    );
    alarm(
      "FanoutIteratorAge",
      props.fanoutFunction.metric("IteratorAge", { statistic: "Maximum", period: ONE_MINUTE }),
      props.iteratorAgeAlarmSeconds * 1000,
      `The fan-out is more than ${props.iteratorAgeAlarmSeconds}s behind the slices table stream.`,
      3,
    );
    alarm(
      "FanoutErrors",
      props.fanoutFunction.metric("Errors", { statistic: "Sum", period: FIVE_MINUTES }),
      1,
      "The fan-out function failed (batches are bisected and retried; see its logs).",
    );
    alarm(
      "IngestErrors",
      props.ingestFunction.metric("Errors", { statistic: "Sum", period: FIVE_MINUTES }),
      1,
      "Whole ingest batches failed (single bad messages are reported per item and do not count here).",
    );
    alarm(
      "IngestMessagesFailed",
      serviceMetric(props.ingestServiceName, METRIC.ingestMessagesFailed, "Sum", FIVE_MINUTES),
      1,
      "Ingest messages were handed back to SQS as batch item failures (the handler caught the error, so " +
        "the function's Errors metric stays 0). They are retried and reach the dead-letter queue after " +
        "maxReceiveCount receives; see the ingest logs for the error.",
    );
    alarm(
      "EventsDeadLettered",
      serviceMetric(props.ingestServiceName, METRIC.eventsDeadLettered, "Sum", FIVE_MINUTES),
      1,
      "The ingest sent events to the dead-letter queue because applying their namespace group failed " +
        "deterministically (reason in each message's attributes). Inspect, fix, redrive.",
    );
    for (const percent of IDENTITY_RANGE_ALARM_PERCENTS) {
      alarm(
        `IdentityRangeUsed${percent}`,
        serviceMetric(props.ingestServiceName, METRIC.identityRangeUsedPercent, "Maximum", FIVE_MINUTES),
        percent,
        `At least ${percent} % of the security identity range is allocated (GC candidates included). ` +
          "When it is full, new label sets cannot get an identity and their events go to the dead-letter " +
          "queue: look for a label with unbounded values (a hash, a timestamp) in the identity-relevant labels.",
      );
    }
    alarm(
      "IngestQueueAge",
      queueMetric(props.ingestQueue, "ApproximateAgeOfOldestMessage"),
      props.ingestQueueAgeAlarmSeconds,
      `Watch events have waited more than ${props.ingestQueueAgeAlarmSeconds}s in the ingest queue.`,
      3,
    );
    alarm(
      "ApiServerErrors",
      props.httpApi.metricServerError({ statistic: "Sum", period: FIVE_MINUTES }),
      5,
      "The HTTP API answered 5xx at least 5 times in 5 minutes.",
    );
    this.alarms = alarms;

    const functions = [
      ["ingest", props.ingestFunction],
      ["fan-out", props.fanoutFunction],
      ["api", props.apiFunction],
      ["watch", props.watchFunction],
    ] as const;
    const perFunction = (name: string, statistic: string) =>
      functions.map(([label, fn]) =>
        fn.metric(name, { statistic, period: ONE_MINUTE, label: `${label} ${statistic}` }),
      );

    this.dashboard = new Dashboard(this, "Dashboard", { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          "# sliceline\nwatch events → **SQS** → ingest λ → **DynamoDB** slices → stream → fan-out λ → " +
          "**SNS** change topics → watcher queues; HTTP API for lists, gets and watcher registration.",
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Queue depth (visible messages)",
        left: [
          queueMetric(props.ingestQueue, "ApproximateNumberOfMessagesVisible", "ingest"),
          queueMetric(props.priorityQueue, "ApproximateNumberOfMessagesVisible", "priority"),
          queueMetric(props.deadLetterQueue, "ApproximateNumberOfMessagesVisible", "dead letters"),
          queueMetric(props.fanoutFailureQueue, "ApproximateNumberOfMessagesVisible", "fan-out failures"),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "Age of oldest message (s)",
        left: [
          queueMetric(props.ingestQueue, "ApproximateAgeOfOldestMessage", "ingest"),
          queueMetric(props.priorityQueue, "ApproximateAgeOfOldestMessage", "priority"),
        ],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: "Function errors", left: perFunction("Errors", "Sum"), width: 8 }),
      new GraphWidget({
        title: "Function duration (ms)",
        left: [...perFunction("Duration", "p50"), ...perFunction("Duration", "p99")],
        width: 8,
      }),
      new GraphWidget({
        title: "Throttles and concurrency",
        left: perFunction("Throttles", "Sum"),
        right: perFunction("ConcurrentExecutions", "Maximum"),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Fan-out iterator age (ms)",
        left: [props.fanoutFunction.metric("IteratorAge", { statistic: "Maximum", period: ONE_MINUTE })],
        width: 12,
      }),
      new GraphWidget({
        title: "HTTP API",
        left: [
          props.httpApi.metricCount({ statistic: "Sum", period: ONE_MINUTE, label: "requests" }),
          props.httpApi.metricClientError({ statistic: "Sum", period: ONE_MINUTE, label: "4xx" }),
          props.httpApi.metricServerError({ statistic: "Sum", period: ONE_MINUTE, label: "5xx" }),
        ],
        right: [props.httpApi.metricLatency({ statistic: "p99", period: ONE_MINUTE, label: "latency p99" })],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Pipeline: events in, slice writes, deliveries (per minute)",
        left: [
          pipelineSum(METRIC.eventsIn, "events in"),
          pipelineSum(METRIC.sliceWrites, "slice writes"),
          pipelineSum(METRIC.deliveries, "deliveries (published x subscriptions)"),
        ],
        right: [
          pipelineSum(METRIC.ingestMessagesFailed, "ingest messages failed"),
          pipelineSum(METRIC.eventsDeadLettered, "events dead-lettered"),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "Identities allocated, % of the identity range",
        left: [pipelinePercentile(METRIC.identityRangeUsedPercent, "Maximum")],
        leftYAxis: { min: 0, max: 100 },
        width: 12,
      }),
    );
    // Neither hop ends at a watcher: the last hop (topic -> queue -> agent applied) is timed by the
    // agents themselves (npm run bench), not by anything the stack can read.
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Ingest latency, source event to slice committed (ms)",
        left: ["p50", "p90", "p99"].map((p) => pipelinePercentile(METRIC.ingestLatency, p)),
        width: 12,
      }),
      new GraphWidget({
        title: "Propagation latency, source event to published by the fan-out (ms)",
        left: ["p50", "p90", "p99"].map((p) => pipelinePercentile(METRIC.propagationLatency, p)),
        width: 12,
      }),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: "Alarms", alarms, width: 24 }));
  }
}
