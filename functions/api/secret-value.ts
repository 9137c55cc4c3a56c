/**
 * Secrets Manager GetSecretValue as one signed HTTPS request. The AWS SDK's Secrets Manager client
 * is not a dependency of this project, and the API function needs exactly one call of it once per
 * cold start; this signs it with the SDK's own SigV4 signer and the credentials and region of an
 * SDK client the function already has (the default provider chain: in Lambda, its role).
 */
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, Checksum, SourceData } from "@smithy/types";

export interface SecretValueSource {
  /** The secret's current SecretString. */
  secretString(secretId: string): Promise<string>;
}

export class SecretValueError extends Error {
  override name = "SecretValueError";
}

export interface SecretsManagerOptions {
  readonly region: () => Promise<string>;
  readonly credentials: () => Promise<AwsCredentialIdentity>;
  /** Default https://secretsmanager.<region>.amazonaws.com, or AWS_ENDPOINT_URL_SECRETS_MANAGER. */
  readonly endpoint?: string | undefined;
  readonly fetch?: typeof fetch;
}

/** SHA-256 (or HMAC-SHA256 with a secret) over node:crypto, in the shape the signer expects. */
class NodeSha256 implements Checksum {
  readonly #secret: SourceData | undefined;
  #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = NodeSha256.#create(secret);
  }

  static #create(secret: SourceData | undefined) {
    return secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(secret));
  }

  update(data: Uint8Array | string): void {
    this.#hash.update(typeof data === "string" ? data : Buffer.from(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }

  reset(): void {
    this.#hash = NodeSha256.#create(this.#secret);
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export class SecretsManagerSecrets implements SecretValueSource {
  readonly #options: SecretsManagerOptions;

  constructor(options: SecretsManagerOptions) {
    this.#options = options;
  }

  async secretString(secretId: string): Promise<string> {
    const region = await this.#options.region();
    const url = new URL(this.#options.endpoint ?? `https://secretsmanager.${region}.amazonaws.com/`);
    const body = JSON.stringify({ SecretId: secretId });
    const signer = new SignatureV4({
      service: "secretsmanager",
      region,
      credentials: this.#options.credentials,
      sha256: NodeSha256,
    });
    const signed = await signer.sign({
      method: "POST",
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === "" ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query: {},
      headers: {
        host: url.host,
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "secretsmanager.GetSecretValue",
      },
      body,
    });
    const response = await (this.#options.fetch ?? fetch)(url, {
      method: "POST",
      headers: signed.headers,
      body,
    });
    const text = await response.text();
    if (!response.ok)
      throw new SecretValueError(`GetSecretValue ${secretId}: HTTP ${response.status} ${text.slice(0, 200)}`);
    const value = (JSON.parse(text) as { SecretString?: unknown }).SecretString;
    if (typeof value !== "string") throw new SecretValueError(`GetSecretValue ${secretId}: no SecretString`);
    return value;
  }
}
