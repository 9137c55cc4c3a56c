/**
 * Schemas of the Kubernetes watch events sliceline accepts (docs/contract.md §1).
 *
 * Only the fields the outputs depend on are declared; everything else a real watch stream carries
 * (managedFields, annotations, status details) is accepted and dropped by the parse, so what flows
 * on is already small. The same zod schemas feed Powertools' parser in the Lambda handlers.
 */
import { isIP } from "node:net";
import { z } from "zod";
import {
  DNS1123_LABEL_MAX_LENGTH,
  DNS1123_SUBDOMAIN_MAX_LENGTH,
  isDns1123Label,
  isDns1123Subdomain,
  labelKeyProblem,
  labelValueProblem,
} from "./kubernetes-names.ts";

/** Pod and Node names are DNS-1123 subdomains in Kubernetes (Services are stricter there: DNS-1035 labels). */
const nameSchema = z
  .string()
  .min(1, "must be a non-empty string")
  .max(DNS1123_SUBDOMAIN_MAX_LENGTH, `is longer than ${DNS1123_SUBDOMAIN_MAX_LENGTH} characters`)
  .refine(isDns1123Subdomain, "must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.')");
const namespaceNameSchema = z
  .string()
  .min(1, "must be a non-empty string")
  .max(DNS1123_LABEL_MAX_LENGTH, `is longer than ${DNS1123_LABEL_MAX_LENGTH} characters`)
  .refine(isDns1123Label, "must be a DNS-1123 label (lower-case alphanumerics and '-')");
/** Labels and selectors as Kubernetes validates them: qualified-name keys, short values of a small charset. */
const labelMapSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", path: [key], message: problem });
  }
});
const labelsSchema = labelMapSchema.optional();
/** Kubernetes resourceVersions are opaque to clients in general; sliceline requires etcd's decimal revisions. */
const resourceVersionSchema = z
  .string({ error: "is required (a decimal integer string)" })
  .regex(/^[0-9]{1,30}$/, "must be a decimal integer string");
/** An empty address is tolerated (a pod without one yet, as some producers send); anything else must parse. */
const ipSchema = z.string().refine((ip) => ip === "" || isIP(ip) !== 0, "must be an IP address");
const protocolSchema = z.enum(["TCP", "UDP", "SCTP"]).optional();
const portNumberSchema = z.number().int().min(1).max(65535);

const namespacedMeta = z.object({
  name: nameSchema,
  namespace: namespaceNameSchema,
  uid: z.string().optional(),
  resourceVersion: resourceVersionSchema,
  labels: labelsSchema,
  deletionTimestamp: z.string().nullish(),
});

const clusterMeta = z.object({
  name: nameSchema,
  uid: z.string().optional(),
  resourceVersion: resourceVersionSchema,
  labels: labelsSchema,
});

const containerSchema = z.object({
  ports: z
    .array(
      z.object({
        name: z.string().optional(),
        containerPort: portNumberSchema,
        protocol: protocolSchema,
      }),
    )
    .nullish(),
});

export const podSchema = z.object({
  kind: z.literal("Pod"),
  metadata: namespacedMeta,
  spec: z
    .object({
      nodeName: z.string().optional(),
      hostNetwork: z.boolean().optional(),
      containers: z.array(containerSchema).optional(),
    })
    .optional(),
  status: z
    .object({
      podIP: ipSchema.optional(),
      podIPs: z
        .array(z.object({ ip: ipSchema }))
        .max(2, "has more than one IP per family")
        .nullish(),
      hostIP: z.string().optional(),
      phase: z.string().optional(),
      conditions: z.array(z.object({ type: z.string(), status: z.string() })).nullish(),
    })
    .superRefine((status, ctx) => {
      const families = (status.podIPs ?? []).map(({ ip }) => isIP(ip)).filter((family) => family !== 0);
      if (new Set(families).size < families.length) {
        ctx.addIssue({ code: "custom", path: ["podIPs"], message: "has more than one IP per family" });
      }
    })
    .optional(),
});

export const serviceSchema = z.object({
  kind: z.literal("Service"),
  metadata: namespacedMeta,
  spec: z
    .object({
      selector: labelMapSchema.nullish(),
      ports: z
        .array(
          z.object({
            name: z.string().optional(),
            port: portNumberSchema,
            targetPort: z.union([portNumberSchema, z.string().min(1)]).optional(),
            protocol: protocolSchema,
            appProtocol: z.string().optional(),
          }),
        )
        .nullish(),
      type: z.string().optional(),
      clusterIP: z.string().optional(),
      ipFamilies: z.array(z.enum(["IPv4", "IPv6"])).nullish(),
      publishNotReadyAddresses: z.boolean().optional(),
    })
    .optional(),
});

export const namespaceSchema = z.object({
  kind: z.literal("Namespace"),
  metadata: clusterMeta,
});

export const nodeSchema = z.object({
  kind: z.literal("Node"),
  metadata: clusterMeta,
  status: z
    .object({
      addresses: z.array(z.object({ type: z.string(), address: z.string() })).nullish(),
    })
    .optional(),
});

export const watchedObjectSchema = z.discriminatedUnion("kind", [
  podSchema,
  serviceSchema,
  namespaceSchema,
  nodeSchema,
]);

export const watchEventSchema = z.object({
  type: z.enum(["ADDED", "MODIFIED", "DELETED"]),
  object: watchedObjectSchema,
});

/** The kinds a SYNC covers; Namespaces and Nodes are cluster-scoped. */
export const SYNC_KINDS = ["Pod", "Service", "Namespace", "Node"] as const;
export type SyncKind = (typeof SYNC_KINDS)[number];
const CLUSTER_SCOPED: ReadonlySet<string> = new Set(["Namespace", "Node"]);

/** A half-open name range [from, to): from "" is the start, an absent to is the end. */
const nameRangeSchema = z
  .object({
    from: z.string().max(DNS1123_SUBDOMAIN_MAX_LENGTH).default(""),
    to: z.string().min(1).optional(),
  })
  .strict()
  .refine((range) => range.to === undefined || range.from < range.to, "from must sort before to");

/**
 * The resync extension of the input (docs/input-events.md): every object of `kind` (in
 * `namespace` for namespaced kinds) whose name is in `range` and not in `names`, and whose last
 * applied resourceVersion is older than this one, is deleted at it. `names` is sorted, unique
 * and inside the range, so a chunk means the same whatever else arrives, in any order, any number
 * of times.
 */
export const syncEventSchema = z
  .object({
    type: z.literal("SYNC"),
    kind: z.enum(SYNC_KINDS),
    namespace: namespaceNameSchema.optional(),
    resourceVersion: resourceVersionSchema,
    names: z.array(nameSchema),
    range: nameRangeSchema.default({ from: "" }),
  })
  .strict()
  .superRefine((sync, ctx) => {
    const clusterScoped = CLUSTER_SCOPED.has(sync.kind);
    if (clusterScoped && sync.namespace !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["namespace"],
        message: `must be absent: ${sync.kind} is cluster-scoped`,
      });
    if (!clusterScoped && sync.namespace === undefined)
      ctx.addIssue({ code: "custom", path: ["namespace"], message: `is required for ${sync.kind}` });
    for (let i = 0; i < sync.names.length; i++) {
      const name = sync.names[i] as string;
      const previous = sync.names[i - 1];
      if (previous !== undefined && !(previous < name)) {
        ctx.addIssue({ code: "custom", path: ["names", i], message: "names must be sorted and unique" });
        return;
      }
      if (name < sync.range.from || (sync.range.to !== undefined && name >= sync.range.to)) {
        ctx.addIssue({ code: "custom", path: ["names", i], message: `"${name}" is outside the range` });
        return;
      }
    }
  });

export type PodObject = z.infer<typeof podSchema>;
export type ServiceObject = z.infer<typeof serviceSchema>;
export type NamespaceObject = z.infer<typeof namespaceSchema>;
export type NodeObject = z.infer<typeof nodeSchema>;
export type WatchedObject = z.infer<typeof watchedObjectSchema>;
export type WatchEvent = z.infer<typeof watchEventSchema>;
export type WatchEventType = WatchEvent["type"];
export type SyncEvent = z.infer<typeof syncEventSchema>;
/** What one input event can be: a change (docs/contract.md §1) or a resync (extension). */
export type InputEvent = WatchEvent | SyncEvent;

export function isSyncEvent(event: InputEvent): event is SyncEvent {
  return event.type === "SYNC";
}
