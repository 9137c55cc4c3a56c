/**
 * SliceReader over a MemoryClusterStore: the objects it holds and, for ipcache, its namespace
 * groups' pods and identities. Serves tests and single-process local runs; every call walks what
 * it needs, which is fine at those sizes.
 */
import { parseAddress } from "#shared/core/endpointslice/ip-address.ts";
import type { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumIdentity, PodRecord } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { API_RESOURCES, OUTPUT_KINDS } from "./api-resources.ts";
import { ContinueTokens, queryFingerprint } from "./continue-token.ts";
import { matchesFields, matchesLabels } from "./label-selector.ts";
import { type PageBudget, PageCollector } from "./page-budget.ts";
import {
  compareKeys,
  highestResourceVersion,
  type IPCacheEntry,
  type ListOptions,
  type ListResult,
  listKey,
  type SliceReader,
  type SliceStats,
} from "./slice-reader.ts";
import { expiredContinue } from "./status.ts";

export interface MemorySliceReaderOptions {
  /** Signs continue tokens (default: a random key of this reader's own). */
  readonly continueTokens?: ContinueTokens;
  /** What one list may read and return (default DEFAULT_PAGE_BUDGET). */
  readonly pageBudget?: PageBudget;
  /** Per-second rates to report in stats, if the caller measures any. */
  readonly rates?: () => Readonly<Record<string, number>>;
  readonly now?: () => number;
}

export class MemorySliceReader implements SliceReader {
  readonly #store: MemoryClusterStore;
  readonly #options: MemorySliceReaderOptions;
  readonly #tokens: ContinueTokens;

  constructor(store: MemoryClusterStore, options: MemorySliceReaderOptions = {}) {
    this.#store = store;
    this.#options = options;
    this.#tokens = options.continueTokens ?? ContinueTokens.withRandomKey();
  }

  async list(
    kind: OutputKind,
    namespace: string | undefined,
    options: ListOptions = {},
  ): Promise<ListResult> {
    const scoped = API_RESOURCES[kind].namespaced ? namespace : undefined;
    const fingerprint = queryFingerprint([
      "memory",
      kind,
      scoped,
      options.labelSelector?.text,
      options.fieldSelector?.text,
    ]);
    const after =
      options.continueToken === undefined || options.continueToken === ""
        ? undefined
        : afterKey(this.#tokens.decode(options.continueToken, fingerprint));
    const inOrder: Array<{ key: string; object: OutputObject }> = [];
    for (const { object } of this.#store.objects(kind).values()) {
      if (scoped !== undefined && object.metadata.namespace !== scoped) continue;
      const key = listKey(object);
      if (after !== undefined && compareKeys(key, after) <= 0) continue;
      inOrder.push({ key, object });
    }
    inOrder.sort((a, b) => compareKeys(a.key, b.key));
    const matches = ({ object }: { object: OutputObject }): boolean =>
      (options.labelSelector === undefined || matchesLabels(options.labelSelector, object.metadata.labels)) &&
      (options.fieldSelector === undefined || matchesFields(options.fieldSelector, object));
    const page = new PageCollector(options.limit, this.#options.pageBudget);
    let consumed = 0;
    for (const candidate of inOrder) {
      const object = matches(candidate) ? candidate.object : undefined;
      if (page.offer(object, object === undefined ? "" : JSON.stringify(object)) === "refused") break;
      consumed++;
    }
    // Reading on costs nothing here: a token only when a later item matches (no empty last page).
    const resumeAfter = inOrder[consumed - 1]?.key;
    const more = resumeAfter !== undefined && inOrder.slice(consumed).some(matches);
    return {
      items: page.items,
      continueToken: more ? this.#tokens.encode(fingerprint, { after: resumeAfter as string }) : undefined,
      resourceVersion: highestResourceVersion(page.items),
    };
  }

  async get(
    kind: OutputKind,
    namespace: string | undefined,
    name: string,
  ): Promise<OutputObject | undefined> {
    const key = API_RESOURCES[kind].namespaced ? `${namespace}/${name}` : name;
    if (API_RESOURCES[kind].namespaced && namespace === undefined) return undefined;
    return this.#store.objects(kind).get(key)?.object;
  }

  async lookupIP(ip: string): Promise<IPCacheEntry | undefined> {
    const wanted = parseAddress(ip)?.address;
    if (wanted === undefined) return undefined;
    let hostNetworkMatch: { namespace: string; pod: PodRecord; identity: number | undefined } | undefined;
    for (const group of this.#store.groups()) {
      for (const [name, entry] of group.pods) {
        const pod = entry.record;
        if (pod === undefined || !isLive(pod)) continue;
        if (!pod.podIPs.some((podIP) => parseAddress(podIP)?.address === wanted)) continue;
        const match = { namespace: group.name, pod, identity: group.podIdentities.get(name) };
        if (!pod.hostNetwork) return this.#entry(ip, match);
        hostNetworkMatch ??= match;
      }
    }
    return hostNetworkMatch === undefined ? undefined : this.#entry(ip, hostNetworkMatch);
  }

  async namespaceExists(namespace: string): Promise<boolean> {
    for (const group of this.#store.groups()) {
      if (group.name === namespace && group.namespaceEntry?.record !== undefined) return true;
    }
    for (const { object } of this.#store.objects("EndpointSlice").values()) {
      if (object.metadata.namespace === namespace) return true;
    }
    return false;
  }

  async stats(): Promise<SliceStats> {
    const counts = Object.fromEntries(
      OUTPUT_KINDS.map((kind) => [kind, this.#store.objects(kind).size]),
    ) as Record<OutputKind, number>;
    const rates = this.#options.rates?.();
    return {
      counts,
      ...(rates === undefined ? {} : { rates }),
      asOf: new Date(this.#options.now?.() ?? Date.now()).toISOString(),
    };
  }

  #entry(
    ip: string,
    match: { namespace: string; pod: PodRecord; identity: number | undefined },
  ): IPCacheEntry {
    const { pod } = match;
    let identity: IPCacheEntry["identity"];
    if (match.identity !== undefined) {
      const stored = this.#store.objects("CiliumIdentity").get(String(match.identity))?.object as
        | CiliumIdentity
        | undefined;
      identity =
        stored === undefined
          ? { id: match.identity }
          : { id: match.identity, labels: { ...stored["security-labels"] } };
    }
    return {
      ip,
      namespace: match.namespace,
      pod: pod.name,
      hostNetwork: pod.hostNetwork,
      identity,
      node: { nodeName: pod.nodeName, hostIP: pod.hostIP },
    };
  }
}

/** A pod whose IP still belongs to it: Succeeded and Failed pods have released theirs. */
export function isLive(pod: Pick<PodRecord, "phase">): boolean {
  return pod.phase !== "Succeeded" && pod.phase !== "Failed";
}

function afterKey(key: Readonly<Record<string, string>>): string {
  const after = key.after;
  if (after === undefined || Object.keys(key).length !== 1) throw expiredContinue();
  return after;
}
