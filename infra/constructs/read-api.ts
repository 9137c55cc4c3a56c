/**
 * The read side and watcher registration: one function behind an API Gateway HTTP API. Every route
 * requires IAM authorization (SigV4-signed requests; the caller's IAM policy must allow
 * execute-api:Invoke on it). Routes follow the contract: Kubernetes discovery, list and get of
 * EndpointSlices, CiliumEndpointSlices and CiliumIdentities (namespaced and cluster-wide), the
 * conveniences, and watcher registration. Access logs go to their own log group, as JSON lines.
 */
import { RemovalPolicy } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  type CfnApi,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  type HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { PipelineFunction } from "#infra/constructs/pipeline-function.ts";
import type { SlicelineTables } from "#infra/constructs/tables.ts";
import type { WatcherChannels } from "#infra/constructs/watcher-channels.ts";
import type { Settings } from "#infra/settings.ts";
import { grantTableTo, READER_ACCESS } from "#infra/wiring.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";

/** Every route of the API (contract §3 and §4), as "METHOD path". */
export const API_ROUTES = [
  // Discovery (kubectl --server=<url> reads these first).
  "GET /",
  "GET /api",
  "GET /api/{version}",
  "GET /apis",
  "GET /apis/{group}",
  "GET /apis/{group}/{version}",
  // kubectl checks that a namespace exists after a NotFound.
  "GET /api/{version}/namespaces/{namespace}",
  // Cluster-wide lists and cluster-scoped gets: endpointslices (all namespaces),
  // ciliumendpointslices, ciliumidentities.
  "GET /apis/{group}/{version}/{resource}",
  "GET /apis/{group}/{version}/{resource}/{name}",
  // Namespaced list and get: endpointslices.
  "GET /apis/{group}/{version}/namespaces/{namespace}/{resource}",
  "GET /apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}",
  // Conveniences.
  "GET /v1/ipcache/{ip}",
  "GET /v1/stats",
  "GET /healthz",
  // Watchers.
  "POST /v1/watchers",
  "GET /v1/watchers/{node}",
  "DELETE /v1/watchers/{node}",
  "POST /v1/watchers/{node}/applied",
] as const;

/** One JSON line per request: who (IAM caller), what (route, status), how long. */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: "$context.requestId",
  time: "$context.requestTime",
  method: "$context.httpMethod",
  path: "$context.path",
  routeKey: "$context.routeKey",
  status: "$context.status",
  protocol: "$context.protocol",
  responseLength: "$context.responseLength",
  responseLatencyMs: "$context.responseLatency",
  integrationLatencyMs: "$context.integrationLatency",
  sourceIp: "$context.identity.sourceIp",
  userAgent: "$context.identity.userAgent",
  caller: "$context.identity.caller",
  userArn: "$context.identity.userArn",
  error: "$context.error.message",
  integrationError: "$context.integrationErrorMessage",
});

export interface ReadApiProps {
  readonly tables: SlicelineTables;
  readonly channels: WatcherChannels;
  readonly settings: Settings;
}

export class ReadApi extends Construct {
  readonly handler: PipelineFunction;
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ReadApiProps) {
    super(scope, id);
    const { tables, channels, settings } = props;
    this.handler = new PipelineFunction(this, "Handler", {
      logicalId: LOGICAL_IDS.apiFunction,
      entry: "functions/api/handler.ts",
      description: "sliceline HTTP API: Kubernetes-compatible reads, ipcache, stats, watcher registration",
      serviceName: "sliceline-api",
      memoryMb: settings.apiMemoryMb,
      timeoutSeconds: settings.apiTimeoutSeconds,
      logRetentionDays: settings.logRetentionDays,
      production: settings.production,
    });
    const fn = this.handler.function;

    grantTableTo(fn, tables.slices, READER_ACCESS);
    grantTableTo(fn, tables.identities, READER_ACCESS);
    // ipcache: IP -> pod through the state table's IP indexes.
    grantTableTo(fn, tables.state, READER_ACCESS);
    // Watcher registrations: conditional put/update/delete of a node's item and its caller's cap
    // counter (in transactions), and the scheduled sweep's scan for expired registrations.
    grantTableTo(fn, tables.watchers, ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Scan"]);
    channels.grantManageTo(fn);
    channels.scheduleSweepOn(fn);

    this.httpApi = new HttpApi(this, "Api", {
      description: "sliceline: Kubernetes-compatible read API and watcher registration (IAM auth)",
      defaultAuthorizer: new HttpIamAuthorizer(),
      createDefaultStage: false,
    });
    (this.httpApi.node.defaultChild as CfnApi).overrideLogicalId(LOGICAL_IDS.httpApi);

    this.accessLogs = new LogGroup(this, "AccessLogs", {
      retention: settings.logRetentionDays as RetentionDays,
      removalPolicy: settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.stage = this.httpApi.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      throttle: { rateLimit: settings.apiRateLimit, burstLimit: settings.apiBurstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });

    const integration = new HttpLambdaIntegration("Handler", fn, {
      payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
    });
    for (const route of API_ROUTES) {
      const [method, path] = route.split(" ") as [keyof typeof HttpMethod, string];
      this.httpApi.addRoutes({ path, methods: [HttpMethod[method]], integration });
    }
    // Everything else reaches the function too, so an unknown path or method is answered with a
    // Kubernetes Status (404/405) rather than API Gateway's own {"message":"Not Found"}.
    new HttpRoute(this, "CatchAll", { httpApi: this.httpApi, routeKey: HttpRouteKey.DEFAULT, integration });
  }
}
