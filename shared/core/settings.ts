/**
 * The knobs of the slicing core, with the defaults of Kubernetes and Cilium, validated once.
 * Each part validates its own knobs; this only gathers them.
 */
import { DEFAULT_TOMBSTONE_RETENTION_MS } from "#shared/config/queue-retention.ts";
import {
  type CesBatchingMode,
  type CesSettings,
  DEFAULT_MAX_ENDPOINTS_PER_CES,
  validateCesSettings,
} from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import {
  DEFAULT_ENDPOINT_SLICE_SETTINGS,
  type EndpointSlicePlacement,
  type EndpointSliceSettings,
  validateEndpointSliceSettings,
} from "#shared/core/endpointslice/settings.ts";
import { DEFAULT_IDENTITY_GC_GRACE_MS } from "#shared/core/identity/identity-allocator.ts";
import {
  defaultIdentityLabelPolicy,
  type IdentityLabelPolicy,
} from "#shared/core/identity/security-labels.ts";

export interface SlicingSettings {
  /** EndpointSlice capacity (Kubernetes' --max-endpoints-per-slice, default 100, 1..1000). */
  readonly maxEndpointsPerSlice: number;
  /** "kubernetes": the upstream controller's placement rules; "sliceline": the same, plus free compaction. */
  readonly placement: EndpointSlicePlacement;
  /** CiliumEndpointSlice capacity (default 50 here, as in the seed; cilium-operator's default is 100). */
  readonly maxEndpointsPerCES: number;
  readonly cesBatchingMode: CesBatchingMode;
  readonly identityLabelPolicy: IdentityLabelPolicy;
  /** How long an identity nobody uses survives before it is garbage-collected. */
  readonly identityGcGraceMs: number;
  /**
   * How long a DELETED object's tombstone is kept to reject late, older events. The default
   * outlives every queue retention that can replay an event (shared/config/queue-retention.ts);
   * ingest refuses, with a reason, any event older than this.
   */
  readonly tombstoneRetentionMs: number;
}

export const DEFAULT_SLICING_SETTINGS: SlicingSettings = {
  ...DEFAULT_ENDPOINT_SLICE_SETTINGS,
  maxEndpointsPerCES: DEFAULT_MAX_ENDPOINTS_PER_CES,
  cesBatchingMode: "fcfs",
  identityLabelPolicy: defaultIdentityLabelPolicy,
  identityGcGraceMs: DEFAULT_IDENTITY_GC_GRACE_MS,
  tombstoneRetentionMs: DEFAULT_TOMBSTONE_RETENTION_MS,
};

export class InvalidSettingsError extends Error {
  override name = "InvalidSettingsError";
}

/** Defaults overridden by what is given; throws the part's own ...SettingsError for a bad knob. */
export function resolveSlicingSettings(overrides: Partial<SlicingSettings> = {}): SlicingSettings {
  const settings = { ...DEFAULT_SLICING_SETTINGS, ...overrides };
  validateEndpointSliceSettings(settings);
  validateCesSettings(cesSettingsOf(settings));
  for (const name of ["identityGcGraceMs", "tombstoneRetentionMs"] as const) {
    const value = settings[name];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidSettingsError(`${name} must be a non-negative integer (ms), got ${value}`);
    }
  }
  return settings;
}

/** The EndpointSlice part of the settings. */
export function endpointSliceSettingsOf(settings: SlicingSettings): EndpointSliceSettings {
  return { maxEndpointsPerSlice: settings.maxEndpointsPerSlice, placement: settings.placement };
}

/** The CiliumEndpointSlice part of the settings. */
export function cesSettingsOf(settings: SlicingSettings): CesSettings {
  return { maxEndpointsPerCES: settings.maxEndpointsPerCES, batchingMode: settings.cesBatchingMode };
}
