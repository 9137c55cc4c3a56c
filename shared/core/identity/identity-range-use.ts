/**
 * How much of the security identity range is allocated: the cardinality guard's one number. Every
 * distinct identity-relevant label set takes one id for as long as a pod holds it, plus a grace
 * period before garbage collection; a label with unbounded values (a hash, a timestamp) exhausts
 * the range, and then new label sets get no identity at all.
 */
import { MAX_CLUSTER_IDENTITY, MIN_CLUSTER_IDENTITY } from "#shared/core/identity/identity-allocator.ts";

export interface IdentityRangeUse {
  /** Identities allocated: held by pods, or unused and awaiting garbage collection. */
  readonly inUse: number;
  readonly rangeMin: number;
  readonly rangeMax: number;
  /** rangeMax - rangeMin + 1 */
  readonly rangeSize: number;
  /** 100 * inUse / rangeSize, to two decimals. */
  readonly usedPercent: number;
}

export function identityRangeUse(
  inUse: number,
  rangeMin = MIN_CLUSTER_IDENTITY,
  rangeMax = MAX_CLUSTER_IDENTITY,
): IdentityRangeUse {
  if (!Number.isInteger(rangeMin) || !Number.isInteger(rangeMax) || rangeMax < rangeMin)
    throw new RangeError(`identity range ${rangeMin}..${rangeMax} is invalid`);
  const rangeSize = rangeMax - rangeMin + 1;
  const count = Number.isFinite(inUse) && inUse > 0 ? Math.floor(inUse) : 0;
  return {
    inUse: count,
    rangeMin,
    rangeMax,
    rangeSize,
    usedPercent: Math.round((count / rangeSize) * 10_000) / 100,
  };
}
