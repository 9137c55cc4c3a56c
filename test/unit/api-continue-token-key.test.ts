/**
 * The API function's continue-token key: the local key or the stack's secret, read once, refused
 * when missing or too short; and the one Secrets Manager call it makes, SigV4-signed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadContinueTokens } from "#functions/api/continue-token-key.ts";
import { SecretsManagerSecrets, type SecretValueSource } from "#functions/api/secret-value.ts";
import { queryFingerprint } from "#shared/api/continue-token.ts";
import { EnvironmentError } from "#shared/config/environment.ts";
import { ENV } from "#shared/config/resources.ts";

const SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ContinueTokenKey-AbCdEf";

function secrets(value: string, calls: string[] = []): () => SecretValueSource {
  return () => ({
    secretString: async (id) => {
      calls.push(id);
      return value;
    },
  });
}

describe("continue-token key", () => {
  const fingerprint = queryFingerprint(["q"]);

  it("reads the stack's secret once; containers with the same secret honour each other's tokens", async () => {
    const calls: string[] = [];
    const env = { [ENV.continueTokenKeySecret]: SECRET_ARN };
    const first = await loadContinueTokens(env, secrets("s".repeat(64), calls));
    const second = await loadContinueTokens(env, secrets("s".repeat(64), calls));
    assert.deepEqual(calls, [SECRET_ARN, SECRET_ARN]);
    assert.deepEqual(second.decode(first.encode(fingerprint, { after: "x" }), fingerprint), { after: "x" });
    const rotated = await loadContinueTokens(env, secrets("t".repeat(64)));
    assert.throws(
      () => rotated.decode(first.encode(fingerprint, { after: "x" }), fingerprint),
      (error: { status?: { code?: number } }) => error.status?.code === 410,
    );
  });

  it("prefers the key itself (local runs) and never asks Secrets Manager then", async () => {
    const calls: string[] = [];
    const tokens = await loadContinueTokens(
      { [ENV.continueTokenKey]: "l".repeat(40), [ENV.continueTokenKeySecret]: SECRET_ARN },
      secrets("unused", calls),
    );
    assert.ok(tokens.encode(fingerprint, {}).includes("."));
    assert.deepEqual(calls, []);
  });

  it("refuses to start without a key, or with an empty or short one", async () => {
    for (const [env, value] of [
      [{}, "x".repeat(64)],
      [{ [ENV.continueTokenKey]: "short" }, ""],
      [{ [ENV.continueTokenKeySecret]: SECRET_ARN }, ""],
      [{ [ENV.continueTokenKeySecret]: SECRET_ARN }, "x".repeat(31)],
    ] as const) {
      await assert.rejects(loadContinueTokens(env, secrets(value)), EnvironmentError, JSON.stringify(env));
    }
  });
});

describe("Secrets Manager GetSecretValue", () => {
  it("sends one SigV4-signed JSON request and returns the SecretString", async () => {
    const requests: Array<{ url: string; init: RequestInit }> = [];
    const source = new SecretsManagerSecrets({
      region: async () => "eu-west-1",
      credentials: async () => ({
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "secret",
        sessionToken: "session",
      }),
      fetch: (async (url: URL, init: RequestInit) => {
        requests.push({ url: String(url), init });
        return new Response(JSON.stringify({ SecretString: "the-key", ARN: SECRET_ARN }), { status: 200 });
      }) as typeof fetch,
    });
    assert.equal(await source.secretString(SECRET_ARN), "the-key");
    assert.equal(requests.length, 1);
    const [request] = requests as [{ url: string; init: RequestInit }];
    assert.equal(request.url, "https://secretsmanager.eu-west-1.amazonaws.com/");
    const headers = request.init.headers as Record<string, string>;
    assert.equal(headers["x-amz-target"], "secretsmanager.GetSecretValue");
    assert.equal(headers["content-type"], "application/x-amz-json-1.1");
    assert.equal(headers["x-amz-security-token"], "session");
    assert.match(
      headers.authorization ?? "",
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-target[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    assert.deepEqual(JSON.parse(String(request.init.body)), { SecretId: SECRET_ARN });
  });

  it("fails with the status when Secrets Manager refuses", async () => {
    const source = new SecretsManagerSecrets({
      region: async () => "eu-west-1",
      credentials: async () => ({ accessKeyId: "a", secretAccessKey: "b" }),
      endpoint: "http://127.0.0.1:1/",
      fetch: (async () =>
        new Response('{"__type":"AccessDeniedException"}', { status: 400 })) as unknown as typeof fetch,
    });
    await assert.rejects(source.secretString(SECRET_ARN), /HTTP 400 .*AccessDenied/);
  });
});
