/** The knobs of EndpointSlice placement, validated where a ServiceSlices is built. */

export type EndpointSlicePlacement = "kubernetes" | "sliceline";

export interface EndpointSliceSettings {
  /** Kubernetes' --max-endpoints-per-slice: 1..1000, default 100. */
  readonly maxEndpointsPerSlice: number;
  /**
   * "kubernetes": exactly the upstream controller's packing. "sliceline": the same, then merges
   * that keep the slice count near the optimum without writing more over time.
   */
  readonly placement: EndpointSlicePlacement;
}

export const DEFAULT_ENDPOINT_SLICE_SETTINGS: EndpointSliceSettings = {
  maxEndpointsPerSlice: 100,
  placement: "sliceline",
};

export const MIN_ENDPOINTS_PER_SLICE = 1;
export const MAX_ENDPOINTS_PER_SLICE = 1000;

export class InvalidEndpointSliceSettingsError extends Error {
  override name = "InvalidEndpointSliceSettingsError";
}

export function validateEndpointSliceSettings(settings: EndpointSliceSettings): EndpointSliceSettings {
  const max = settings.maxEndpointsPerSlice;
  if (!Number.isInteger(max) || max < MIN_ENDPOINTS_PER_SLICE || max > MAX_ENDPOINTS_PER_SLICE) {
    throw new InvalidEndpointSliceSettingsError(
      `maxEndpointsPerSlice must be an integer in ${MIN_ENDPOINTS_PER_SLICE}..${MAX_ENDPOINTS_PER_SLICE}, got ${String(max)}`,
    );
  }
  if (settings.placement !== "kubernetes" && settings.placement !== "sliceline") {
    throw new InvalidEndpointSliceSettingsError(
      `placement must be "kubernetes" or "sliceline", got ${String(settings.placement)}`,
    );
  }
  return { maxEndpointsPerSlice: max, placement: settings.placement };
}
