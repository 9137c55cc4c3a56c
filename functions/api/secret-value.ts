/**
 * Where the API function reads a secret's value: Powertools' SecretsProvider (Parameters utility)
 * over the SDK's Secrets Manager client, so retries, endpoints (`AWS_ENDPOINT_URL_SECRETS_MANAGER`)
 * and credentials are the SDK's own. Behind a one-method port, so tests can hand in a value.
 */
import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

export interface SecretValueSource {
  /** The secret's current SecretString. */
  secretString(secretId: string): Promise<string>;
}

export class SecretValueError extends Error {
  override name = "SecretValueError";
}

export class SecretsManagerSecrets implements SecretValueSource {
  readonly #provider: SecretsProvider;

  constructor(client?: SecretsManagerClient) {
    this.#provider = new SecretsProvider(client === undefined ? {} : { awsSdkV3Client: client });
  }

  async secretString(secretId: string): Promise<string> {
    // maxAge 0: read at cold start only, and then the current value (no provider-side cache).
    const value = await this.#provider.get(secretId, { maxAge: 0 });
    if (typeof value !== "string") throw new SecretValueError(`secret ${secretId} has no SecretString`);
    return value;
  }
}
