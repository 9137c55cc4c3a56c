/**
 * The IPs a pod holds, as an IP-to-pod lookup (ipcache) indexes them: the first address of each
 * family, in canonical form, and only while the pod still holds them. Finished pods (Succeeded,
 * Failed) have released their IPs, which may already belong to another pod; a deleted pod holds
 * none. Terminating pods keep theirs until they are gone, as in Kubernetes.
 */
import { parseAddress } from "#shared/core/endpointslice/ip-address.ts";
import type { PodRecord } from "#shared/core/model.ts";

export interface PodAddresses {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/** A pod whose IPs still belong to it. */
export function holdsIPs(pod: Pick<PodRecord, "phase">): boolean {
  return pod.phase !== "Succeeded" && pod.phase !== "Failed";
}

/** The first canonical IPv4 and IPv6 address of a pod that holds its IPs (none otherwise). */
export function indexedAddresses(pod: PodRecord | undefined): PodAddresses {
  if (pod === undefined || !holdsIPs(pod)) return {};
  let ipv4: string | undefined;
  let ipv6: string | undefined;
  for (const text of pod.podIPs) {
    const parsed = parseAddress(text);
    if (parsed?.family === "IPv4") ipv4 ??= parsed.address;
    else if (parsed?.family === "IPv6") ipv6 ??= parsed.address;
  }
  return { ...(ipv4 === undefined ? {} : { ipv4 }), ...(ipv6 === undefined ? {} : { ipv6 }) };
}
