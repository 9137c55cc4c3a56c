/**
 * Opaque continue tokens: base64url JSON of where the next page starts (a storage key) and a
 * fingerprint of the query it belongs to. A token that does not decode, or was issued for another
 * kind, namespace, selector or index, is answered 410 Expired as the apiserver answers a continue
 * it cannot resume, so the client starts a fresh list rather than reading a wrong page.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { expiredContinue } from "./status.ts";

export type TokenKey = Readonly<Record<string, string>>;

const tokenSchema = z.strictObject({
  v: z.literal(1),
  q: z.string(),
  k: z.record(z.string(), z.string()),
});

/** A short digest of everything that defines a query; tokens carry it and are checked against it. */
export function queryFingerprint(parts: readonly (string | undefined)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part === undefined ? "\u0000-" : `\u0001${part}\u0000`);
  return hash.digest("base64url").slice(0, 16);
}

export function encodeContinueToken(fingerprint: string, key: TokenKey): string {
  return Buffer.from(JSON.stringify({ v: 1, q: fingerprint, k: key })).toString("base64url");
}

/** The key a token resumes from; throws a 410 Expired StatusError for anything else. */
export function decodeContinueToken(token: string, fingerprint: string): TokenKey {
  if (token.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(token)) throw expiredContinue();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw expiredContinue();
  }
  const result = tokenSchema.safeParse(parsed);
  if (!result.success || result.data.q !== fingerprint) throw expiredContinue();
  return result.data.k;
}
