/**
 * The API function's continue-token key, once per cold start, from where its environment says
 * (functions/commons/environment.ts): the key itself (the local runner generates one; tests), or
 * the Secrets Manager secret the stack generated, named by its ARN. Every container of the function therefore signs
 * and checks with the same key, so a token issued by one is honoured by the next.
 */

import { type ContinueTokenKeySource, EnvironmentError } from "#functions/commons/environment.ts";
import { type ContinueTokens, continueTokensFromSecret } from "#shared/api/continue-token.ts";
import type { SecretValueSource } from "./secret-value.ts";

export async function loadContinueTokens(
  source: ContinueTokenKeySource,
  secrets: () => SecretValueSource,
): Promise<ContinueTokens> {
  const secret = "key" in source ? source.key : await secrets().secretString(source.secretId);
  try {
    return continueTokensFromSecret(secret);
  } catch (error) {
    throw new EnvironmentError(`the continue-token key is unusable: ${(error as Error).message}`);
  }
}
