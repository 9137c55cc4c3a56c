/**
 * Which pod answers an IP when several claim it. The stores may briefly hold two live pods with
 * one IP: the IP was reused by a new pod while the old pod's deletion is still on its way (SQS is
 * unordered, namespaces commit independently), or a host-network pod shares its node's IP. Every
 * reader picks the same one, whatever order its storage returns them in:
 *   1. a pod's own IP over a host-network pod's (which only borrows its node's);
 *   2. a pod that is not terminating over one that is (a terminating pod is on its way out);
 *   3. the newest: highest pod resourceVersion (etcd revisions are cluster-wide, so they compare
 *      across namespaces), the pod changed last, which is the one that got the IP last;
 *   4. then namespace/name, so the answer is deterministic even on equal versions.
 */
import type { PodRecord } from "#shared/core/model.ts";
import { compareResourceVersions } from "#shared/core/object-versions.ts";

export interface IPClaim {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  readonly pod: Pick<PodRecord, "hostNetwork" | "terminating">;
}

/** Negative when `a` should answer before `b`. */
export function compareClaims(a: IPClaim, b: IPClaim): number {
  if (a.pod.hostNetwork !== b.pod.hostNetwork) return a.pod.hostNetwork ? 1 : -1;
  if (a.pod.terminating !== b.pod.terminating) return a.pod.terminating ? 1 : -1;
  const byVersion = compareResourceVersions(b.resourceVersion, a.resourceVersion);
  if (byVersion !== 0) return byVersion;
  const aKey = `${a.namespace}/${a.name}`;
  const bKey = `${b.namespace}/${b.name}`;
  return aKey < bKey ? -1 : aKey > bKey ? 1 : 0;
}

/** The claim that answers, undefined for none. */
export function winningClaim<C extends IPClaim>(claims: Iterable<C>): C | undefined {
  let best: C | undefined;
  for (const claim of claims) if (best === undefined || compareClaims(claim, best) < 0) best = claim;
  return best;
}
