/**
 * A fetch that signs every request with AWS Signature Version 4 for API Gateway's IAM authorizer
 * (service `execute-api`), using Smithy's signer, the one the AWS SDK itself uses. The API binds
 * watcher routes to the signing principal (docs/aws.md "Watchers: authorization").
 *
 * SHA-256 comes from node:crypto (the SDK's own hash packages are not installed on their own).
 */
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  Checksum,
  SourceData,
} from "@smithy/types";

export const EXECUTE_API_SERVICE = "execute-api";

/** Smithy's Checksum over node:crypto: a hash, or an HMAC when constructed with a secret. */
export class NodeSha256 implements Checksum {
  readonly #secret: SourceData | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = this.#fresh();
  }

  update(data: Uint8Array | string): void {
    this.#hash.update(
      typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }

  reset(): void {
    this.#hash = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    if (this.#secret === undefined) return createHash("sha256");
    return createHmac("sha256", toBuffer(this.#secret));
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as ArrayBuffer);
}

export interface SigningFetchOptions {
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly service?: string;
  readonly fetch?: typeof fetch;
  /** The signing time (tests pin it). */
  readonly now?: () => Date;
}

/** A fetch (string URL, method, string headers and body) that sends every request SigV4-signed. */
export function signingFetch(options: SigningFetchOptions): typeof fetch {
  const signer = new SignatureV4({
    service: options.service ?? EXECUTE_API_SERVICE,
    region: options.region,
    credentials: options.credentials,
    sha256: NodeSha256,
    // API Gateway, like every service but S3, signs the path escaped once more.
    uriEscapePath: true,
  });
  const send = options.fetch ?? fetch;
  return async (input, init = {}) => {
    const signed = await signRequest(
      signer,
      String(input instanceof Request ? input.url : input),
      init,
      options.now,
    );
    return send(signed.url, { ...init, headers: signed.headers });
  };
}

export async function signRequest(
  signer: SignatureV4,
  url: string,
  init: RequestInit,
  now?: () => Date,
): Promise<{ url: string; headers: Record<string, string> }> {
  const parsed = new URL(url);
  const headers: Record<string, string> = { host: parsed.host };
  for (const [name, value] of new Headers(init.headers).entries()) headers[name] = value;
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of parsed.searchParams) {
    const previous = query[name];
    query[name] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== "string")
    throw new TypeError("signingFetch signs string bodies only");
  const signed = await signer.sign(
    {
      method: (init.method ?? "GET").toUpperCase(),
      protocol: parsed.protocol,
      hostname: parsed.hostname,
      ...(parsed.port === "" ? {} : { port: Number(parsed.port) }),
      path: decodeURIComponent(parsed.pathname),
      query,
      headers,
      body: body ?? undefined,
    },
    now === undefined ? {} : { signingDate: now() },
  );
  // fetch sets Host itself (the same value): undici refuses to be handed it.
  const { host: _host, ...sent } = signed.headers;
  return { url, headers: sent };
}
