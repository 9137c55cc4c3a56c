/**
 * Deployment settings, read once from CDK context (cdk.json "context", or `-c key=value` on the
 * command line, where every value arrives as a string). Every knob has a default that deploys a
 * small sandbox; each is validated here with its AWS limit, so a bad value fails the synth with a
 * message naming the key instead of failing the deployment half-way.
 */
import { z } from "zod";
import { DEFAULT_NODE_PRINCIPAL } from "#shared/api/watcher-authorization.ts";
import { DEFAULT_WATCHER_TTL_SECONDS } from "#shared/api/watcher-registry.ts";
import { FANOUT_FORMATS } from "#shared/config/resources.ts";

const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** A number from JSON (cdk.json) or from a string (`-c key=12`). */
function integer(min: number, max: number, fallback: number) {
  return z.coerce.number().int().min(min).max(max).default(fallback);
}

const flag = z
  .union([z.boolean(), z.enum(["true", "false"]).transform((text) => text === "true")])
  .default(false);

/** A list from JSON (an array) or from a comma-separated string (`-c zones=a,b,c`). */
const nameList = z
  .union([z.array(z.string()), z.string().transform((text) => (text.trim() === "" ? [] : text.split(",")))])
  .transform((names) => names.map((name) => name.trim()).filter((name) => name !== ""));

/** An object from JSON (cdk.json) or from JSON text (`-c slicing='{"maxEndpointsPerSlice":50}'`). */
const jsonObject = z
  .union([
    z.record(z.string(), z.unknown()),
    z.string().transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be a JSON object" });
        return z.NEVER;
      }
    }),
  ])
  .pipe(z.record(z.string(), z.unknown()))
  .default({});

const memoryMb = (fallback: number) => integer(128, 10_240, fallback);

const settingsSchema = z
  .object({
    /** Name of the CloudFormation stack. */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)
      .default("Sliceline"),
    /** Deploy target; both optional (an environment-agnostic template when absent). */
    account: z
      .string()
      .regex(/^\d{12}$/)
      .optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/)
      .optional(),
    /** Production: tables RETAINed, point-in-time recovery, deletion protection. */
    production: flag,
    /**
     * Keep the slices table's former kind index (byKindShard, projection ALL) next to
     * byKindShardKeys: the first of the two deploys that upgrade a stack built with it, since a
     * table update creates or deletes one index at most (docs/aws.md, "Upgrading a deployed stack").
     */
    legacyKindIndex: flag,
    /** Zones with their own EndpointSlice topic (topology-aware subsetting). */
    zones: nameList
      .pipe(
        z
          .array(
            z.string().regex(/^[A-Za-z0-9._-]{1,63}$/, "zone names are label values: [A-Za-z0-9._-]{1,63}"),
          )
          .max(50),
      )
      .default(["zone-a", "zone-b", "zone-c"]),

    /** Ingest queue -> ingest function. Batch sizes above 10 need a batching window of at least 1 s. */
    ingestBatchSize: integer(1, 10_000, 500),
    /** 1 s: the coalescing window, and within the 2 s propagation budget (measured by npm run bench). */
    ingestBatchWindowSeconds: integer(0, 300, 1),
    /** The priority queue's window is always 0; SQS then allows at most 10 messages per batch. */
    priorityBatchSize: integer(1, 10, 10),
    /**
     * Concurrent ingest invocations per queue (the event source mapping's MaximumConcurrency). 2, the
     * least SQS allows: at 100 pod changes/s one 1-s batch holds ~100 events, and more pollers only
     * split it into smaller batches that coalesce less and conflict on the same namespace groups
     * (the benchmark measured p99 182 s with 20 on a small cluster, 1.8 s with 2).
     */
    ingestMaxConcurrency: integer(2, 1000, 2),
    priorityMaxConcurrency: integer(2, 1000, 5),
    /** Receives before SQS moves a message to the dead-letter queue. */
    maxReceiveCount: integer(1, 1000, 5),
    ingestTimeoutSeconds: integer(1, 900, 30),

    /** Slices table stream -> fan-out function. */
    fanoutBatchSize: integer(1, 10_000, 100),
    fanoutBatchWindowSeconds: integer(0, 300, 0),
    fanoutRetryAttempts: integer(0, 10_000, 10),
    fanoutMaxRecordAgeSeconds: integer(60, 604_800, 3600),
    /** Concurrent batches per stream shard; order per partition key (one slice) is kept at any value. */
    fanoutParallelization: integer(1, 10, 1),
    fanoutTimeoutSeconds: integer(1, 900, 60),
    /** "bundles": one delta bundle per scope per stream batch; "objects": one whole object per change. */
    fanoutFormat: z.enum(FANOUT_FORMATS).default("bundles"),

    apiTimeoutSeconds: integer(1, 29, 10),
    /**
     * The watch function (a function URL with response streaming, docs/watch.md): its timeout bounds
     * a streaming watch, which ends cleanly 2 s before it; Lambda allows up to 15 minutes.
     */
    watchTimeoutSeconds: integer(10, 900, 900),
    /**
     * Reserved concurrency of the watch function: each open watch holds one execution, so this caps
     * open watches and keeps them from taking the concurrency ingest and fan-out need. Absent: none
     * reserved (an account's unreserved pool must keep 100, so a default could fail to deploy).
     */
    watchReservedConcurrency: z.coerce.number().int().min(1).max(10_000).optional(),
    /** HTTP API stage throttling (requests per second, burst). */
    apiRateLimit: integer(1, 10_000, 200),
    apiBurstLimit: integer(1, 5_000, 400),

    ingestMemoryMb: memoryMb(1024),
    fanoutMemoryMb: memoryMb(512),
    apiMemoryMb: memoryMb(512),
    logRetentionDays: z.coerce
      .number()
      .refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
        message: `one of ${LOG_RETENTION_DAYS.join(", ")}`,
      })
      .default(14),

    /** Watcher channels: SQS queues the API creates at registration, all named with this prefix. */
    watcherQueuePrefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/)
      .default("sliceline-watcher-"),
    /**
     * Watcher authorization (docs/aws.md "Watcher authorization"): "principal" binds each node's
     * watcher to the IAM principals `watcherNodePrincipals` name for it ({node}: the node name,
     * *: one ARN field); "none" lets any caller act on any watcher (the local runner's default).
     */
    watcherAuthorization: z.enum(["principal", "none"]).default("principal"),
    watcherNodePrincipals: nameList.default([DEFAULT_NODE_PRINCIPAL]),
    /** Principals (patterns, no {node}) that may act on every node's watcher, uncapped. */
    watcherAdminPrincipals: nameList
      .pipe(z.array(z.string().refine((p) => !p.includes("{node}"), "admin patterns name no {node}")))
      .default([]),
    /** Live watcher registrations one (non-admin) principal may hold. */
    watcherCapPerCaller: integer(0, 100_000, 10),
    /** A registration not refreshed (re-registered, or read by its owner) for this long is swept. */
    watcherTtlSeconds: integer(1, 1_209_600, DEFAULT_WATCHER_TTL_SECONDS),
    /** How often the sweep of expired watchers runs (an EventBridge schedule on the API function). */
    watcherSweepMinutes: integer(1, 1440, 5),

    /** SlicingSettings overrides handed to the ingest function as JSON (validated by the handler). */
    slicing: jsonObject,
    /** Slice writes per second before scaling by watcher count; absent: no budget. */
    writeBudget: z.coerce.number().int().min(1).max(1_000_000).optional(),

    /** Alarms: fan-out iterator age threshold; an optional e-mail address for alarm notifications. */
    iteratorAgeAlarmSeconds: integer(1, 86_400, 60),
    ingestQueueAgeAlarmSeconds: integer(1, 1_209_600, 300),
    alarmEmail: z.email().optional(),
  })
  .superRefine((settings, ctx) => {
    if (settings.ingestBatchSize > 10 && settings.ingestBatchWindowSeconds < 1) {
      ctx.addIssue({
        code: "custom",
        path: ["ingestBatchWindowSeconds"],
        message: "SQS event sources with a batch size above 10 need a batching window of at least 1 second",
      });
    }
    const visibilitySeconds = settings.ingestTimeoutSeconds * 6;
    if (visibilitySeconds > 43_200) {
      ctx.addIssue({
        code: "custom",
        path: ["ingestTimeoutSeconds"],
        message: "the queue visibility timeout (6 x the function timeout) must stay within 12 hours",
      });
    }
  });

export type Settings = z.infer<typeof settingsSchema>;

/** The keys a caller may set, for error messages and the docs. */
export const SETTING_KEYS = Object.keys(settingsSchema.shape) as readonly (keyof Settings)[];

export class SettingsError extends Error {
  override name = "SettingsError";
}

/** Settings from a context lookup (`(key) => app.node.tryGetContext(key)`); throws SettingsError. */
export function readSettings(lookup: (key: string) => unknown): Settings {
  const raw: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const value = lookup(key);
    if (value !== undefined && value !== null) raw[key] = value;
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SettingsError(
      `invalid context settings: ${z.prettifyError(parsed.error).replaceAll("\n", " ")}`,
    );
  }
  return parsed.data;
}
