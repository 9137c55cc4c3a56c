/**
 * Reading a function's environment, once, with clear errors: each handler declares the variables
 * it needs (names from ENV) and gets typed values or an EnvironmentError naming what is wrong.
 */
import { z } from "zod";
import { parseIdentityLabelPolicy } from "#shared/core/identity/security-labels.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";
import { ENV, FANOUT_FORMATS, type FanoutFormat } from "./resources.ts";

export class EnvironmentError extends Error {
  override name = "EnvironmentError";
}

type EnvName = (typeof ENV)[keyof typeof ENV];

/** The named variables, each required and non-empty. */
export function requireEnvironment<const K extends keyof typeof ENV>(
  keys: readonly K[],
  source: NodeJS.ProcessEnv = process.env,
): Record<K, string> {
  const values = {} as Record<K, string>;
  const missing: EnvName[] = [];
  for (const key of keys) {
    const value = source[ENV[key]];
    if (value === undefined || value === "") missing.push(ENV[key]);
    else values[key] = value;
  }
  if (missing.length > 0) throw new EnvironmentError(`missing environment variables: ${missing.join(", ")}`);
  return values;
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

/** SlicingSettings from the JSON in SLICELINE_SLICING_SETTINGS (absent: all defaults). */
export function slicingSettingsFromEnvironment(source: NodeJS.ProcessEnv = process.env): SlicingSettings {
  const text = source[ENV.slicingSettings];
  if (text === undefined || text.trim() === "") return resolveSlicingSettings();
  const { identityLabels, ...knobs } = parseJsonVariable(ENV.slicingSettings, text, slicingSettingsOverrides);
  const overrides: Partial<SlicingSettings> = Object.fromEntries(
    Object.entries(knobs).filter(([, value]) => value !== undefined),
  );
  if (identityLabels !== undefined) {
    const policyText = typeof identityLabels === "string" ? identityLabels : JSON.stringify(identityLabels);
    return resolveSlicingSettings({
      ...overrides,
      identityLabelPolicy: parseIdentityLabelPolicy(policyText),
    });
  }
  return resolveSlicingSettings(overrides);
}

const topicArnsSchema = z.record(z.string().min(1), z.string().startsWith("arn:"));

/** Scope -> SNS topic ARN, from the JSON in SLICELINE_CHANGE_TOPIC_ARNS. */
export function changeTopicArnsFromEnvironment(
  source: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const text = requireEnvironment(["changeTopicArns"], source).changeTopicArns;
  return parseJsonVariable(ENV.changeTopicArns, text, topicArnsSchema);
}

/** The fan-out's delivery format from SLICELINE_FANOUT_FORMAT; absent or empty: "bundles". */
export function fanoutFormatFromEnvironment(source: NodeJS.ProcessEnv = process.env): FanoutFormat {
  const text = source[ENV.fanoutFormat];
  if (text === undefined || text === "") return "bundles";
  if (!(FANOUT_FORMATS as readonly string[]).includes(text)) {
    throw new EnvironmentError(
      `${ENV.fanoutFormat} must be one of ${FANOUT_FORMATS.join(", ")}, not ${JSON.stringify(text)}`,
    );
  }
  return text as FanoutFormat;
}

/** A variable holding JSON, checked against its schema; errors name the variable. */
function parseJsonVariable<T>(name: string, text: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EnvironmentError(`${name} is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new EnvironmentError(`${name}: ${z.prettifyError(parsed.error).replaceAll("\n", " ")}`);
  }
  return parsed.data;
}
