/**
 * Schemas of the Kubernetes watch events sliceline accepts (contract §1).
 *
 * Only the fields the outputs depend on are declared; everything else a real watch stream carries
 * (managedFields, annotations, status details) is accepted and dropped by the parse, so what flows
 * on is already small. The same zod schemas feed Powertools' parser in the Lambda handlers.
 */
import { z } from "zod";

const nameSchema = z.string().min(1, "must be a non-empty string").max(253, "is longer than 253 characters");
const labelsSchema = z.record(z.string(), z.string()).optional();
/** Kubernetes resourceVersions are opaque to clients in general; sliceline requires etcd's decimal revisions. */
const resourceVersionSchema = z
  .string({ error: "is required (a decimal integer string)" })
  .regex(/^[0-9]{1,30}$/, "must be a decimal integer string");
const protocolSchema = z.enum(["TCP", "UDP", "SCTP"]).optional();
const portNumberSchema = z.number().int().min(1).max(65535);

const namespacedMeta = z.object({
  name: nameSchema,
  namespace: nameSchema,
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
      podIP: z.string().optional(),
      podIPs: z.array(z.object({ ip: z.string() })).nullish(),
      hostIP: z.string().optional(),
      phase: z.string().optional(),
      conditions: z.array(z.object({ type: z.string(), status: z.string() })).nullish(),
    })
    .optional(),
});

export const serviceSchema = z.object({
  kind: z.literal("Service"),
  metadata: namespacedMeta,
  spec: z
    .object({
      selector: z.record(z.string(), z.string()).nullish(),
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

export type PodObject = z.infer<typeof podSchema>;
export type ServiceObject = z.infer<typeof serviceSchema>;
export type NamespaceObject = z.infer<typeof namespaceSchema>;
export type NodeObject = z.infer<typeof nodeSchema>;
export type WatchedObject = z.infer<typeof watchedObjectSchema>;
export type WatchEvent = z.infer<typeof watchEventSchema>;
export type WatchEventType = WatchEvent["type"];
