/**
 * fauxqs (SQS + SNS emulator) embedded in the test process on 127.0.0.1. Like product code, the
 * clients find it through the SDK's AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_SNS variables, which
 * this sets; with LocalStack as the backend the same variables point there instead.
 */
import { SNSClient } from "@aws-sdk/client-sns";
import { startFauxqs } from "#scripts/local/backends.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";

export interface FauxqsHandle {
  readonly endpoint: string;
  readonly sqs: ReturnType<typeof createSqsClient>;
  readonly sns: SNSClient;
  stop(): Promise<void>;
}

export async function startLocalMessaging(): Promise<FauxqsHandle> {
  const server = await startFauxqs();
  const endpoint = server.endpoint;
  process.env.AWS_ENDPOINT_URL_SQS = endpoint;
  process.env.AWS_ENDPOINT_URL_SNS = endpoint;
  process.env.AWS_REGION ??= "us-east-1";
  process.env.AWS_ACCESS_KEY_ID ??= "local";
  process.env.AWS_SECRET_ACCESS_KEY ??= "local";
  const sqs = createSqsClient();
  const sns = new SNSClient({});
  return {
    endpoint,
    sqs,
    sns,
    stop: async () => {
      sqs.destroy();
      sns.destroy();
      await server.stop();
    },
  };
}
