/**
 * Where the API function's continue-token key comes from, once per cold start: the key itself when
 * the environment holds it (the local runner generates one; tests), otherwise the Secrets Manager
 * secret the stack generated, named by its ARN. Every container of the function therefore signs
 * and checks with the same key, so a token issued by one is honoured by the next.
 */
import { type ContinueTokens, continueTokensFromSecret } from "#shared/api/continue-token.ts";
import { EnvironmentError } from "#shared/config/environment.ts";
import { ENV } from "#shared/config/resources.ts";
import type { SecretValueSource } from "./secret-value.ts";

export async function loadContinueTokens(
  source: NodeJS.ProcessEnv,
  secrets: () => SecretValueSource,
): Promise<ContinueTokens> {
  const key = source[ENV.continueTokenKey] ?? "";
  const secretId = source[ENV.continueTokenKeySecret] ?? "";
  let secret: string;
  if (key !== "") secret = key;
  else if (secretId !== "") secret = await secrets().secretString(secretId);
  else
    throw new EnvironmentError(
      `invalid API function environment: ${ENV.continueTokenKeySecret} or ${ENV.continueTokenKey} is required (the continue-token key)`,
    );
  try {
    return continueTokensFromSecret(secret);
  } catch (error) {
    throw new EnvironmentError(`the continue-token key is unusable: ${(error as Error).message}`);
  }
}
