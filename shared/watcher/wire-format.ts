/**
 * The watcher queue's wire format (docs/wire-format.md) as a schema, the one both ends are held to:
 * the fan-out's encoder is tested against it (test/property/wire-format.test.ts) and the node
 * agent validates every body with it (change-body.ts, `validate`). The JSON Schema in
 * docs/wire-format.schema.json is generated from it (`z.toJSONSchema`) and checked by the test.
 *
 * Objects are checked for what a watcher relies on (kind, metadata, item lists), not field by
 * field: Kubernetes objects grow fields, and a watcher keeps what it does not read.
 */
import { z } from "zod";
import { OUTPUT_KINDS } from "#shared/core/output-changes.ts";

const RESOURCE_VERSION = z.string().regex(/^[0-9]+$/, "a decimal resourceVersion");
const KIND = z.enum(OUTPUT_KINDS);
const TYPE = z.enum(["ADDED", "MODIFIED", "DELETED"]);

const metadata = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
  resourceVersion: RESOURCE_VERSION.optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

const endpointSlice = z.looseObject({
  apiVersion: z.literal("discovery.k8s.io/v1"),
  kind: z.literal("EndpointSlice"),
  metadata,
  addressType: z.string(),
  endpoints: z.array(z.looseObject({ addresses: z.array(z.string()) })),
  ports: z.array(z.looseObject({})).optional(),
});

const ciliumEndpointSlice = z.looseObject({
  apiVersion: z.literal("cilium.io/v2alpha1"),
  kind: z.literal("CiliumEndpointSlice"),
  metadata,
  namespace: z.string(),
  endpoints: z.array(z.looseObject({ name: z.string(), id: z.number().int() })),
});

const ciliumIdentity = z.looseObject({
  apiVersion: z.literal("cilium.io/v2"),
  kind: z.literal("CiliumIdentity"),
  metadata,
  "security-labels": z.record(z.string(), z.string()),
});

export const wireObjectSchema = z.discriminatedUnion("kind", [
  endpointSlice,
  ciliumEndpointSlice,
  ciliumIdentity,
]);

/** Slice items by key: drop `remove`, replace an upserted item whose key is held in place, append the rest. */
export const slicePatchSchema = z.strictObject({
  upsert: z.array(z.looseObject({})),
  remove: z.array(z.string()),
});

/**
 * One change. DELETED carries no body; any other exactly one of: `object` (the whole object),
 * `patch` (on `previousResourceVersion`, or for a zone view on the content `baseViewSum`), or
 * `reference` (read the object from the API).
 */
export const bundledChangeSchema = z
  .strictObject({
    type: TYPE,
    kind: KIND,
    namespace: z.string().optional(),
    name: z.string().min(1),
    resourceVersion: RESOURCE_VERSION,
    previousResourceVersion: RESOURCE_VERSION.optional(),
    baseViewSum: z
      .string()
      .regex(/^[0-9a-f]{16}$/, "16 hex digits")
      .optional(),
    baseDigest: z
      .string()
      .regex(/^[0-9a-f]{16,128}$/, "a hex digest")
      .optional(),
    sourceTimeMs: z.number().int().min(0),
    zone: z.string().optional(),
    object: wireObjectSchema.optional(),
    patch: slicePatchSchema.optional(),
    reference: z.literal(true).optional(),
  })
  .superRefine((change, context) => {
    const bodies = [change.object, change.patch, change.reference].filter(
      (body) => body !== undefined,
    ).length;
    if (change.type === "DELETED" ? bodies > 0 && change.reference !== true : bodies !== 1)
      context.addIssue({
        code: "custom",
        message: "a change carries exactly one of object, patch, reference",
      });
    if (
      change.patch !== undefined &&
      change.previousResourceVersion === undefined &&
      change.baseViewSum === undefined &&
      change.baseDigest === undefined
    )
      context.addIssue({
        code: "custom",
        message: "a patch names its base: previousResourceVersion, baseViewSum or baseDigest",
      });
    if (change.patch !== undefined && change.kind === "CiliumIdentity")
      context.addIssue({ code: "custom", message: "identities travel whole" });
    if (change.object !== undefined && change.object.kind !== change.kind)
      context.addIssue({ code: "custom", message: "the object's kind is the change's" });
  });

/** The coalesced form: one message, many changes of one scope. */
export const changeBundleSchema = z.strictObject({
  bundle: z.literal(1),
  scope: z.string().min(1),
  changes: z.array(bundledChangeSchema),
});

/** A single whole-object change (the unbundled form). */
export const changeMessageSchema = z.strictObject({
  type: TYPE,
  kind: KIND,
  object: wireObjectSchema,
  resourceVersion: RESOURCE_VERSION,
  sourceTimeMs: z.number().int().min(0),
  zone: z.string().optional(),
});

/** An object too big for a message (256 KiB): the watcher reads it from the API. */
export const changeReferenceSchema = z.strictObject({
  type: TYPE,
  kind: KIND,
  resourceVersion: RESOURCE_VERSION,
  sourceTimeMs: z.number().int().min(0),
  zone: z.string().optional(),
  reference: z.strictObject({ name: z.string().min(1), namespace: z.string().optional() }),
});

/** Any body a watcher queue delivers. */
export const changeBodySchema = z.union([changeBundleSchema, changeMessageSchema, changeReferenceSchema]);

/** The JSON Schema (draft 2020-12) of a queue body, as docs/wire-format.schema.json holds it. */
export function wireFormatJsonSchema(): Record<string, unknown> {
  return {
    title: "sliceline watcher queue message body",
    ...z.toJSONSchema(changeBodySchema, { io: "input", unrepresentable: "any" }),
  };
}
