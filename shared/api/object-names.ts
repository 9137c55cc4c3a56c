/**
 * Names in request paths, checked before any read: what Kubernetes would accept as a namespace
 * (an RFC 1123 label, at most 63 characters), an object name (an RFC 1123 subdomain, at most 253)
 * or a CiliumIdentity name (its numeric id). Anything else names no object, and must not reach the
 * store: DynamoDB refuses a key over 1,024 bytes with a ValidationException, which is no 404.
 */
import type { OutputKind } from "#shared/core/output-changes.ts";
import { badRequest, type StatusError } from "./status.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NUMERIC_ID = /^[1-9][0-9]{0,7}$/;

/** Cilium numeric identities are 24 bits wide (cluster id in bits 16..23 under cluster mesh). */
export const MAX_NUMERIC_IDENTITY = 2 ** 24 - 1;

export function namespaceProblem(namespace: string): string | undefined {
  if (namespace.length > 63 || !DNS_LABEL.test(namespace))
    return "a namespace must be a lowercase RFC 1123 label of at most 63 characters";
  return undefined;
}

export function objectNameProblem(kind: OutputKind, name: string): string | undefined {
  if (kind === "CiliumIdentity") {
    if (!NUMERIC_ID.test(name) || Number(name) > MAX_NUMERIC_IDENTITY)
      return `a CiliumIdentity name is its numeric id, 1 to ${MAX_NUMERIC_IDENTITY}`;
    return undefined;
  }
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
    return "a name must be a lowercase RFC 1123 subdomain of at most 253 characters";
  return undefined;
}

/** A 400 Status for an invalid path name; the value is cut short in the message. */
export function invalidName(
  field: "metadata.name" | "metadata.namespace",
  value: string,
  problem: string,
): StatusError {
  const shown = value.length > 80 ? `${value.slice(0, 80)}...` : value;
  return badRequest(`invalid ${field} ${JSON.stringify(shown)}: ${problem}`, [
    { reason: "FieldValueInvalid", message: problem, field },
  ]);
}
