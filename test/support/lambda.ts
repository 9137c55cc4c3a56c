/**
 * Running the real handlers in tests: Powertools quiet (no X-Ray outside Lambda, no EMF on
 * stdout, errors only) and a Lambda context object like the runtime's.
 */
import type { Context } from "aws-lambda";

export function quietPowertools(): void {
  process.env.POWERTOOLS_TRACE_ENABLED = "false";
  process.env.POWERTOOLS_METRICS_DISABLED = "true";
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  process.env.AWS_LAMBDA_LOG_LEVEL = "ERROR";
}

export function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: "512",
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "test",
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
