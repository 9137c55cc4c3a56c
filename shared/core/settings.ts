/**
 * The knobs of the slicing core, with the defaults of Kubernetes and Cilium, validated once.
 */
import type { IdentityLabelPolicy } from "#shared/core/identity/security-labels.ts";
import { defaultIdentityLabelPolicy } from "#shared/core/identity/security-labels.ts";

export type SlicePlacement = "kubernetes" | "sliceline";
export type CesBatchingMode = "fcfs" | "identity";

export interface SlicingSettings {
  /** EndpointSlice capacity (Kubernetes' --max-endpoints-per-slice, default 100, 1..1000). */
  readonly maxEndpointsPerSlice: number;
  /** "kubernetes": the upstream controller's placement rules; "sliceline": the same, plus free compaction. */
  readonly placement: SlicePlacement;
  /** CiliumEndpointSlice capacity (cilium-operator's ces-max-ciliumendpoints-per-ces, default 100 upstream, 50 here as in the seed). */
  readonly maxEndpointsPerCES: number;
  readonly cesBatchingMode: CesBatchingMode;
  readonly identityLabelPolicy: IdentityLabelPolicy;
  /** How long an identity nobody uses survives before it is garbage-collected. */
  readonly identityGcGraceMs: number;
  /** How long a DELETED object's tombstone is kept to reject late, older events. */
  readonly tombstoneRetentionMs: number;
  /** Also compute the comparison baselines (per-endpoint objects, v1 Endpoints per Service). */
  readonly baselines: boolean;
}

export const DEFAULT_SLICING_SETTINGS: SlicingSettings = {
  maxEndpointsPerSlice: 100,
  placement: "sliceline",
  maxEndpointsPerCES: 50,
  cesBatchingMode: "fcfs",
  identityLabelPolicy: defaultIdentityLabelPolicy,
  identityGcGraceMs: 15 * 60 * 1000,
  tombstoneRetentionMs: 24 * 60 * 60 * 1000,
  baselines: false,
};

export class InvalidSettingsError extends Error {
  override name = "InvalidSettingsError";
}

export function resolveSlicingSettings(overrides: Partial<SlicingSettings> = {}): SlicingSettings {
  const settings = { ...DEFAULT_SLICING_SETTINGS, ...overrides };
  requireIntegerIn("maxEndpointsPerSlice", settings.maxEndpointsPerSlice, 1, 1000);
  requireIntegerIn("maxEndpointsPerCES", settings.maxEndpointsPerCES, 1, 1000);
  requireIntegerIn("identityGcGraceMs", settings.identityGcGraceMs, 0, Number.MAX_SAFE_INTEGER);
  requireIntegerIn("tombstoneRetentionMs", settings.tombstoneRetentionMs, 0, Number.MAX_SAFE_INTEGER);
  if (settings.placement !== "kubernetes" && settings.placement !== "sliceline") {
    throw new InvalidSettingsError(
      `placement must be "kubernetes" or "sliceline", got ${String(settings.placement)}`,
    );
  }
  if (settings.cesBatchingMode !== "fcfs" && settings.cesBatchingMode !== "identity") {
    throw new InvalidSettingsError(
      `cesBatchingMode must be "fcfs" or "identity", got ${String(settings.cesBatchingMode)}`,
    );
  }
  return settings;
}

function requireIntegerIn(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidSettingsError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}
