/**
 * The API function's continue-token key: the local key or the stack's secret, read once, refused
 * when missing or too short; and the one Secrets Manager call it makes, through Powertools.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { loadContinueTokens } from "#functions/api/continue-token-key.ts";
import {
  SecretsManagerSecrets,
  SecretValueError,
  type SecretValueSource,
} from "#functions/api/secret-value.ts";
import { EnvironmentError, readContinueTokenKey } from "#functions/commons/environment.ts";
import { queryFingerprint } from "#shared/api/continue-token.ts";
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
    const first = await loadContinueTokens(readContinueTokenKey(env), secrets("s".repeat(64), calls));
    const second = await loadContinueTokens(readContinueTokenKey(env), secrets("s".repeat(64), calls));
    assert.deepEqual(calls, [SECRET_ARN, SECRET_ARN]);
    assert.deepEqual(second.decode(first.encode(fingerprint, { after: "x" }), fingerprint), { after: "x" });
    const rotated = await loadContinueTokens(readContinueTokenKey(env), secrets("t".repeat(64)));
    assert.throws(
      () => rotated.decode(first.encode(fingerprint, { after: "x" }), fingerprint),
      (error: { status?: { code?: number } }) => error.status?.code === 410,
    );
  });

  it("prefers the key itself (local runs) and never asks Secrets Manager then", async () => {
    const calls: string[] = [];
    const tokens = await loadContinueTokens(
      readContinueTokenKey({
        [ENV.continueTokenKey]: "l".repeat(40),
        [ENV.continueTokenKeySecret]: SECRET_ARN,
      }),
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
      await assert.rejects(
        async () => loadContinueTokens(readContinueTokenKey(env), secrets(value)),
        EnvironmentError,
        JSON.stringify(env),
      );
    }
  });
});

describe("Secrets Manager GetSecretValue through Powertools' SecretsProvider", () => {
  /** A local stand-in for the Secrets Manager endpoint: records requests, answers with `answer`. */
  async function withSecretsManager(
    answer: { status: number; body: unknown },
    run: (requests: Array<{ headers: IncomingHttpHeaders; body: string }>) => Promise<void>,
  ): Promise<void> {
    const requests: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        requests.push({ headers: request.headers, body });
        response.writeHead(answer.status, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${port}`,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "secret",
      AWS_SESSION_TOKEN: "session",
    });
    try {
      await run(requests);
    } finally {
      process.env = saved;
      server.close();
    }
  }

  it("sends one signed GetSecretValue and returns the SecretString", async () => {
    await withSecretsManager(
      { status: 200, body: { SecretString: "the-key", ARN: SECRET_ARN } },
      async (requests) => {
        const source = new SecretsManagerSecrets(new SecretsManagerClient({ maxAttempts: 1 }));
        assert.equal(await source.secretString(SECRET_ARN), "the-key");
        assert.equal(requests.length, 1);
        const [request] = requests as [{ headers: IncomingHttpHeaders; body: string }];
        assert.equal(request.headers["x-amz-target"], "secretsmanager.GetSecretValue");
        assert.equal(request.headers["x-amz-security-token"], "session");
        assert.match(
          String(request.headers.authorization),
          /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request, /,
        );
        assert.deepEqual(JSON.parse(request.body), { SecretId: SECRET_ARN });
      },
    );
  });

  it("fails when Secrets Manager refuses or the secret has no string", async () => {
    await withSecretsManager(
      { status: 400, body: { __type: "AccessDeniedException", message: "no" } },
      async () => {
        const source = new SecretsManagerSecrets(new SecretsManagerClient({ maxAttempts: 1 }));
        await assert.rejects(source.secretString(SECRET_ARN), /AccessDenied|no/);
      },
    );
    await withSecretsManager({ status: 200, body: { ARN: SECRET_ARN } }, async () => {
      const source = new SecretsManagerSecrets(new SecretsManagerClient({ maxAttempts: 1 }));
      await assert.rejects(source.secretString(SECRET_ARN), SecretValueError);
    });
  });
});
