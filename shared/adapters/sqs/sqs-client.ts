/**
 * The SQS client every part of sliceline uses.
 *
 * By default the SDK sends a queue's requests to the host in its QueueUrl. Local emulators hand
 * out URLs like http://sqs.us-east-1.localhost:PORT/..., whose host need not resolve; keeping the
 * resolved endpoint (AWS's regional one in AWS, AWS_ENDPOINT_URL_SQS locally) works everywhere.
 */
import { SQSClient, type SQSClientConfig } from "@aws-sdk/client-sqs";

export function createSqsClient(config: SQSClientConfig = {}): SQSClient {
  return new SQSClient({ useQueueUrlAsEndpoint: false, ...config });
}
