/**
 * What a watcher's queue message holds, as bundled changes: a ChangeBundle (the coalesced format),
 * a single ChangeMessage (its whole object), or the reference form of change-publisher.ts (an
 * object too big for a message, to be read from the API).
 *
 * Checks only what applying needs, by hand: a fleet of agents parses every message, and a body
 * comes from the fan-out, not from the outside. With `validate` (the node agent) the body is first
 * held to the wire format's schema (wire-format.ts, docs/wire-format.md).
 */
import { OUTPUT_KINDS } from "#shared/core/output-changes.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import type { ChangeMessage } from "#shared/fanout/change-routing.ts";
import { bundledFromMessage } from "./watcher-cache.ts";
import { changeBodySchema } from "./wire-format.ts";

export class MalformedChangeError extends Error {
  override name = "MalformedChangeError";
}

const KINDS: ReadonlySet<string> = new Set<string>(OUTPUT_KINDS);
const TYPES: ReadonlySet<string> = new Set(["ADDED", "MODIFIED", "DELETED"]);

export function changesOfBody(body: string, options: { readonly validate?: boolean } = {}): BundledChange[] {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new MalformedChangeError("message body is not JSON");
  }
  if (options.validate === true) {
    const result = changeBodySchema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new MalformedChangeError(`not the wire format: ${issue?.path.join(".")}: ${issue?.message}`);
    }
  }
  if (!isRecord(value)) throw new MalformedChangeError("message body is not an object");
  if (value.bundle === 1) {
    if (!Array.isArray(value.changes)) throw new MalformedChangeError("bundle without changes");
    return value.changes.map((change) => checked(change as BundledChange));
  }
  if (isRecord(value.reference)) {
    const { name, namespace } = value.reference;
    if (typeof name !== "string") throw new MalformedChangeError("reference without name");
    return [
      checked({
        type: value.type,
        kind: value.kind,
        ...(typeof namespace === "string" ? { namespace } : {}),
        name,
        resourceVersion: value.resourceVersion,
        sourceTimeMs: value.sourceTimeMs,
        ...(typeof value.zone === "string" ? { zone: value.zone } : {}),
        reference: true,
      } as BundledChange),
    ];
  }
  if (isRecord(value.object) && isRecord(value.object.metadata))
    return [checked(bundledFromMessage(value as unknown as ChangeMessage))];
  throw new MalformedChangeError("message body is neither a change, a bundle nor a reference");
}

function checked(change: BundledChange): BundledChange {
  if (!isRecord(change)) throw new MalformedChangeError("a change is not an object");
  if (!KINDS.has(change.kind)) throw new MalformedChangeError(`unknown kind ${JSON.stringify(change.kind)}`);
  if (!TYPES.has(change.type)) throw new MalformedChangeError(`unknown type ${JSON.stringify(change.type)}`);
  if (typeof change.name !== "string") throw new MalformedChangeError("a change without name");
  if (typeof change.resourceVersion !== "string" || !/^[0-9]+$/.test(change.resourceVersion))
    throw new MalformedChangeError(`resourceVersion ${JSON.stringify(change.resourceVersion)}`);
  if (typeof change.sourceTimeMs !== "number")
    throw new MalformedChangeError("a change without sourceTimeMs");
  return change;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
