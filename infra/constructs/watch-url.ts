/**
 * Streaming Kubernetes watches (docs/watch.md): the API's code in a function of its own
 * (ApiWatchFunction, entry `functionUrlHandler`) behind a Lambda function URL with IAM auth and
 * `InvokeMode: RESPONSE_STREAM`. Behind API Gateway's HTTP API a watch can only be a long poll
 * (it buffers a Lambda response and answers within 30 s); through this URL a watch streams its
 * events until the function's timeout is nearly up, then ends cleanly and the client re-watches.
 *
 * Why a second function and not the API function with a URL:
 *   - an export wrapped in awslambda.streamifyResponse writes a byte stream (a JSON prelude, 8 NUL
 *     bytes, the body), not the payload 2.0 result an HTTP API integration reads; HTTP APIs do not
 *     stream (API Gateway's STREAM transfer mode is for REST APIs), so each entry needs its own
 *     Handler setting;
 *   - the timeouts differ: the API answers within API Gateway's 29 s, a watch runs up to 15 min;
 *   - a watch holds an execution for its whole duration: its own function keeps those apart from
 *     the API's concurrency, and can be capped (watchReservedConcurrency).
 * It runs the same code with the same grants and environment (ReadApi.grantApiTo), so any route
 * also answers through the URL (lists, gets, watcher registration), buffered into the stream.
 */

import type { CfnUrl, FunctionUrl } from "aws-cdk-lib/aws-lambda";
import { FunctionUrlAuthType, InvokeMode } from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import { PipelineFunction } from "#infra/constructs/pipeline-function.ts";
import type { ReadApi } from "#infra/constructs/read-api.ts";
import type { Settings } from "#infra/settings.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";

/** The export of functions/api/handler.ts the watch function runs. */
export const WATCH_HANDLER_EXPORT = "functionUrlHandler";

export interface WatchUrlProps {
  readonly api: ReadApi;
  readonly settings: Settings;
}

export class WatchUrl extends Construct {
  readonly handler: PipelineFunction;
  readonly url: FunctionUrl;

  constructor(scope: Construct, id: string, props: WatchUrlProps) {
    super(scope, id);
    const { api, settings } = props;
    this.handler = new PipelineFunction(this, "Handler", {
      logicalId: LOGICAL_IDS.apiWatchFunction,
      entry: "functions/api/handler.ts",
      handler: WATCH_HANDLER_EXPORT,
      description: "sliceline API behind a streaming function URL: Kubernetes watches that stream",
      serviceName: SERVICE_NAMES.apiWatch,
      memoryMb: settings.apiMemoryMb,
      timeoutSeconds: settings.watchTimeoutSeconds,
      reservedConcurrency: settings.watchReservedConcurrency,
      settings,
    });
    api.grantApiTo(this.handler.function);
    this.url = this.handler.function.addFunctionUrl({
      authType: FunctionUrlAuthType.AWS_IAM,
      invokeMode: InvokeMode.RESPONSE_STREAM,
    });
    (this.url.node.defaultChild as CfnUrl).overrideLogicalId(LOGICAL_IDS.watchFunctionUrl);
  }
}
