/**
 * A CloudFormation custom resource backed directly by a Lambda function (no Provider framework,
 * so no extra function with a runtime of CDK's choosing): the function does the work and then
 * reports the outcome itself with a PUT of the response document to the pre-signed ResponseURL.
 */
import type { CloudFormationCustomResourceEvent } from "aws-lambda";

export type CustomResourceStatus = "SUCCESS" | "FAILED";

export interface CustomResourceOutcome {
  readonly status: CustomResourceStatus;
  /** Shown in the stack's events; CloudFormation requires one for FAILED. */
  readonly reason: string;
  readonly physicalResourceId: string;
  readonly data?: Readonly<Record<string, string | number>>;
}

/** Sends a request; `fetch` in the function, a recorder in tests. */
export type PutRequest = (
  url: string,
  init: { method: "PUT"; headers: Record<string, string>; body: string },
) => Promise<{
  readonly ok: boolean;
  readonly status: number;
}>;

export class CustomResourceResponseError extends Error {
  override name = "CustomResourceResponseError";
}

/** The response document for `event`, as CloudFormation expects it. */
export function responseDocument(event: CloudFormationCustomResourceEvent, outcome: CustomResourceOutcome) {
  return {
    Status: outcome.status,
    // The response body is limited to 4 KiB; a reason is a line, not a stack trace.
    Reason: outcome.reason.slice(0, 1_000),
    PhysicalResourceId: outcome.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    ...(outcome.data === undefined ? {} : { Data: outcome.data }),
  };
}

/** PUTs the response; the pre-signed URL signs no content type, so none is sent (as cfn-response). */
export async function sendResponse(
  event: CloudFormationCustomResourceEvent,
  outcome: CustomResourceOutcome,
  put: PutRequest,
): Promise<void> {
  const body = JSON.stringify(responseDocument(event, outcome));
  const response = await put(event.ResponseURL, {
    method: "PUT",
    headers: { "content-type": "", "content-length": String(Buffer.byteLength(body)) },
    body,
  });
  if (!response.ok)
    throw new CustomResourceResponseError(`CloudFormation response rejected: HTTP ${response.status}`);
}
