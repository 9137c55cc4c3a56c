/**
 * The functions' environment, one way: a zod schema per function over the variables its CDK
 * construct sets (names from ENV, shared with infra/), read and validated once at cold start by
 * the handler's wiring. What a function cannot run without fails the cold start with an
 * EnvironmentError naming every missing or invalid variable; what it can run without (the API's
 * watcher routes, the fan-out's change log) is optional, with the reason kept for the log.
 */
import { z } from "zod";
import {
  DENY_ALL_POLICY,
  type WatcherAuthorizationPolicy,
  watcherAuthorizationPolicySchema,
} from "#shared/api/watcher-authorization.ts";
import { ENV, FANOUT_FORMATS, type FanoutFormat } from "#shared/config/resources.ts";
import { parseIdentityLabelPolicy } from "#shared/core/identity/security-labels.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";

export class EnvironmentError extends Error {
  override name = "EnvironmentError";
}

/** What the environment readers read: process.env, or a test's record. */
export type EnvironmentSource = Readonly<Record<string, string | undefined>>;

/**
 * The variables `schema` describes, validated; an EnvironmentError naming each problem
 * ("<VARIABLE>: <problem>") otherwise. `what` names the reader in the message.
 */
export function readEnvironment<T>(
  what: string,
  schema: z.ZodType<T>,
  source: EnvironmentSource = process.env,
): T {
  const parsed = schema.safeParse(source);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) =>
    issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`,
  );
  throw new EnvironmentError(`invalid ${what} environment: ${problems.join("; ")}`);
}

// ---- Variables ----

/** Absent and empty mean the same: not set (CloudFormation cannot unset a variable, only empty it). */
const unsetIfEmpty = (value: unknown) => (value === "" ? undefined : value);

const required = z.preprocess(unsetIfEmpty, z.string({ error: "required" }));
const optional = z.preprocess(unsetIfEmpty, z.string().optional());

const tableName = z.preprocess(
  unsetIfEmpty,
  z.string({ error: "required" }).regex(/^[A-Za-z0-9_.-]{3,255}$/, "must be a DynamoDB table name"),
);

/** A variable holding JSON, checked against `schema`. */
function json<T>(schema: z.ZodType<T>) {
  return z
    .string()
    .transform((text, context): unknown => {
      try {
        return JSON.parse(text);
      } catch (error) {
        context.addIssue({ code: "custom", message: `not JSON: ${(error as Error).message}` });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const slicingSettingsOverrides = z
  .object({
    maxEndpointsPerSlice: z.number().int().optional(),
    placement: z.enum(["kubernetes", "sliceline"]).optional(),
    maxEndpointsPerCES: z.number().int().optional(),
    cesBatchingMode: z.enum(["fcfs", "identity"]).optional(),
    /** Cilium's label filter syntax, or a JSON policy (see parseIdentityLabelPolicy). */
    identityLabels: z.union([z.string(), z.array(z.string()), z.record(z.string(), z.unknown())]).optional(),
    identityGcGraceMs: z.number().int().optional(),
    tombstoneRetentionMs: z.number().int().optional(),
  })
  .strict();

/**
 * SlicingSettings from the JSON overrides (absent: all defaults). The core validates the values
 * itself: its own errors (InvalidEndpointSliceSettingsError, InvalidLabelPolicyError) pass through.
 */
function resolvedSlicingSettings(
  overrides: z.infer<typeof slicingSettingsOverrides> | undefined,
): SlicingSettings {
  if (overrides === undefined) return resolveSlicingSettings();
  const { identityLabels, ...knobs } = overrides;
  const given: Partial<SlicingSettings> = Object.fromEntries(
    Object.entries(knobs).filter(([, value]) => value !== undefined),
  );
  if (identityLabels === undefined) return resolveSlicingSettings(given);
  const policyText = typeof identityLabels === "string" ? identityLabels : JSON.stringify(identityLabels);
  return resolveSlicingSettings({ ...given, identityLabelPolicy: parseIdentityLabelPolicy(policyText) });
}

const slicingSettings = z
  .preprocess(
    (value) => (typeof value === "string" && value.trim() === "" ? undefined : value),
    json(slicingSettingsOverrides).optional(),
  )
  .transform(resolvedSlicingSettings);

const topicArnsSchema = z.record(z.string().min(1), z.string().startsWith("arn:"));
const changeTopicArns = z.preprocess(unsetIfEmpty, json(topicArnsSchema));

const fanoutFormat = z.preprocess(
  unsetIfEmpty,
  z.enum(FANOUT_FORMATS, { error: `must be one of ${FANOUT_FORMATS.join(", ")}` }).default("bundles"),
);

/** Slice writes per second; absent or empty: no budget. */
const writeBudget = z.preprocess(
  unsetIfEmpty,
  z.coerce.number().positive("must be a positive number").optional(),
);

// ---- Ingest ----

export interface IngestEnvironment {
  readonly tables: {
    readonly stateTable: string;
    readonly slicesTable: string;
    readonly identitiesTable: string;
  };
  readonly deadLetterQueueUrl: string;
  readonly settings: SlicingSettings;
  /** The write budget (ENV.writeBudget) and the watchers it scales with; absent: none. */
  readonly writeBudget?: { readonly baseWritesPerSecond: number; readonly watchersTable: string } | undefined;
}

const ingestSchema = z
  .object({
    [ENV.stateTable]: required,
    [ENV.slicesTable]: required,
    [ENV.identitiesTable]: required,
    [ENV.deadLetterQueueUrl]: required,
    [ENV.slicingSettings]: slicingSettings,
    [ENV.writeBudget]: writeBudget,
    [ENV.watchersTable]: optional,
  })
  .superRefine((values, context) => {
    if (values[ENV.writeBudget] !== undefined && values[ENV.watchersTable] === undefined)
      context.addIssue({
        code: "custom",
        path: [ENV.watchersTable],
        message: `required with ${ENV.writeBudget} (the budget scales with the watchers)`,
      });
  })
  .transform(
    (values): IngestEnvironment => ({
      tables: {
        stateTable: values[ENV.stateTable],
        slicesTable: values[ENV.slicesTable],
        identitiesTable: values[ENV.identitiesTable],
      },
      deadLetterQueueUrl: values[ENV.deadLetterQueueUrl],
      settings: values[ENV.slicingSettings],
      writeBudget: writeBudgetOf(values[ENV.writeBudget], values[ENV.watchersTable]),
    }),
  );

function writeBudgetOf(
  baseWritesPerSecond: number | undefined,
  watchersTable: string | undefined,
): IngestEnvironment["writeBudget"] {
  if (baseWritesPerSecond === undefined || watchersTable === undefined) return undefined;
  return { baseWritesPerSecond, watchersTable };
}

export function readIngestEnvironment(source: EnvironmentSource = process.env): IngestEnvironment {
  return readEnvironment("ingest function", ingestSchema, source);
}

// ---- Fan-out ----

export interface FanoutEnvironment {
  /** Scope -> SNS topic ARN (EndpointSlice, EndpointSlice@<zone>, Cilium, Agent@<zone>). */
  readonly topicArns: Readonly<Record<string, string>>;
  readonly format: FanoutFormat;
  /** Where the change log and the pipeline counts go; absent (a test of publishing alone): neither. */
  readonly stateTable?: string | undefined;
}

const fanoutSchema = z
  .object({
    [ENV.changeTopicArns]: changeTopicArns,
    [ENV.fanoutFormat]: fanoutFormat,
    [ENV.stateTable]: optional,
  })
  .transform(
    (values): FanoutEnvironment => ({
      topicArns: values[ENV.changeTopicArns],
      format: values[ENV.fanoutFormat],
      stateTable: values[ENV.stateTable],
    }),
  );

export function readFanoutEnvironment(source: EnvironmentSource = process.env): FanoutEnvironment {
  return readEnvironment("fan-out function", fanoutSchema, source);
}

// ---- API ----

/** Where the continue-token key comes from: the key itself (local runs, tests) or the stack's secret. */
export type ContinueTokenKeySource = { readonly key: string } | { readonly secretId: string };

/** The watcher routes' settings, or why they are off (the routes then answer 500). */
export type WatcherRegistrySettings =
  | {
      readonly watchersTable: string;
      readonly topicArns: Readonly<Record<string, string>>;
      readonly queueNamePrefix: string;
      readonly ttlSeconds?: number | undefined;
      readonly problem?: undefined;
    }
  | { readonly problem: string };

/** Who may act on which watcher; DENY_ALL_POLICY, with the reason, when the setting is unusable. */
export interface WatcherAuthorizationSetting {
  readonly policy: WatcherAuthorizationPolicy;
  readonly problem: string | undefined;
}

export interface ApiEnvironment {
  readonly slicesTable: string;
  readonly stateTable: string;
  readonly identitiesTable: string;
  readonly continueTokenKey: ContinueTokenKeySource;
  readonly watchers: WatcherRegistrySettings;
  readonly authorization: WatcherAuthorizationSetting;
}

const apiTablesSchema = z.object({
  [ENV.slicesTable]: tableName,
  [ENV.stateTable]: tableName,
  [ENV.identitiesTable]: tableName,
});

const continueTokenKeyVariables = z.object({
  [ENV.continueTokenKey]: optional,
  [ENV.continueTokenKeySecret]: optional,
});

/** The key itself wins over the secret (local runs set both). */
function continueTokenKeyOf(
  values: z.infer<typeof continueTokenKeyVariables>,
  context: z.RefinementCtx,
): ContinueTokenKeySource {
  const key = values[ENV.continueTokenKey];
  const secretId = values[ENV.continueTokenKeySecret];
  if (key !== undefined) return { key };
  if (secretId !== undefined) return { secretId };
  context.addIssue({
    code: "custom",
    message: `${ENV.continueTokenKeySecret} or ${ENV.continueTokenKey} is required (the continue-token key)`,
  });
  return z.NEVER;
}

const continueTokenKeySchema = continueTokenKeyVariables.transform(continueTokenKeyOf);

const watcherVariables = z.object({
  [ENV.watchersTable]: optional,
  [ENV.changeTopicArns]: optional,
  [ENV.watcherQueuePrefix]: optional,
  [ENV.watcherTtlSeconds]: optional,
  [ENV.watcherAuthorization]: optional,
});
type WatcherVariables = z.infer<typeof watcherVariables>;

/** Never fails: a missing or invalid watcher setting turns the watcher routes off, with the reason. */
function watcherRegistrySettings(values: WatcherVariables): WatcherRegistrySettings {
  const names = [ENV.watchersTable, ENV.changeTopicArns, ENV.watcherQueuePrefix] as const;
  const missing = names.filter((name) => values[name] === undefined);
  if (missing.length > 0) return { problem: `missing ${missing.join(", ")}` };
  const topicArns = changeTopicArns.safeParse(values[ENV.changeTopicArns]);
  if (!topicArns.success) {
    const reasons = topicArns.error.issues.map((issue) => issue.message).join("; ");
    return { problem: `${ENV.changeTopicArns} is invalid: ${reasons}` };
  }
  const ttl = Number(values[ENV.watcherTtlSeconds] ?? "");
  return {
    watchersTable: values[ENV.watchersTable] as string,
    topicArns: topicArns.data,
    queueNamePrefix: values[ENV.watcherQueuePrefix] as string,
    ttlSeconds: Number.isInteger(ttl) && ttl > 0 ? ttl : undefined,
  };
}

/** The stack's policy (ENV.watcherAuthorization); fails closed, with the reason, when unusable. */
function watcherAuthorization(values: WatcherVariables): WatcherAuthorizationSetting {
  const name = ENV.watcherAuthorization;
  const text = values[name];
  if (text === undefined)
    return { policy: DENY_ALL_POLICY, problem: `missing ${name}: every caller is denied` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { policy: DENY_ALL_POLICY, problem: `${name} is not JSON: every caller is denied` };
  }
  const result = watcherAuthorizationPolicySchema.safeParse(parsed);
  if (!result.success)
    return {
      policy: DENY_ALL_POLICY,
      problem: `${name} is invalid (${result.error.issues.map((i) => i.message).join("; ")}): every caller is denied`,
    };
  return { policy: result.data, problem: undefined };
}

const watcherSchema = watcherVariables.transform((values) => ({
  watchers: watcherRegistrySettings(values),
  authorization: watcherAuthorization(values),
}));

const apiSchema = z
  .object({ ...apiTablesSchema.shape, ...continueTokenKeyVariables.shape, ...watcherVariables.shape })
  .transform(
    (values, context): ApiEnvironment => ({
      slicesTable: values[ENV.slicesTable],
      stateTable: values[ENV.stateTable],
      identitiesTable: values[ENV.identitiesTable],
      continueTokenKey: continueTokenKeyOf(values, context),
      watchers: watcherRegistrySettings(values),
      authorization: watcherAuthorization(values),
    }),
  );

export function readApiEnvironment(source: EnvironmentSource = process.env): ApiEnvironment {
  return readEnvironment("API function", apiSchema, source);
}

/** The watcher part of the API's environment alone (tests of the registry choice). */
export function readWatcherEnvironment(
  source: EnvironmentSource = process.env,
): Pick<ApiEnvironment, "watchers" | "authorization"> {
  return readEnvironment("API function", watcherSchema, source);
}

/** The continue-token part of the API's environment alone (tests of the key's source). */
export function readContinueTokenKey(source: EnvironmentSource = process.env): ContinueTokenKeySource {
  return readEnvironment("API function", continueTokenKeySchema, source);
}

// ---- Single variables, for scripts and tests ----

/** SlicingSettings from the JSON in SLICELINE_SLICING_SETTINGS (absent: all defaults). */
export function slicingSettingsFromEnvironment(source: EnvironmentSource = process.env): SlicingSettings {
  return readEnvironment("slicing settings", z.object({ [ENV.slicingSettings]: slicingSettings }), source)[
    ENV.slicingSettings
  ];
}

/** Scope -> SNS topic ARN, from the JSON in SLICELINE_CHANGE_TOPIC_ARNS. */
export function changeTopicArnsFromEnvironment(
  source: EnvironmentSource = process.env,
): Record<string, string> {
  return readEnvironment("change topics", z.object({ [ENV.changeTopicArns]: changeTopicArns }), source)[
    ENV.changeTopicArns
  ];
}

/** The fan-out's delivery format from SLICELINE_FANOUT_FORMAT; absent or empty: "bundles". */
export function fanoutFormatFromEnvironment(source: EnvironmentSource = process.env): FanoutFormat {
  return readEnvironment("fan-out format", z.object({ [ENV.fanoutFormat]: fanoutFormat }), source)[
    ENV.fanoutFormat
  ];
}
