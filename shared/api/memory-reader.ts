/**
 * SliceReader over a MemoryClusterStore: the objects it holds and, for ipcache, its namespace
 * groups' pods and identities. Serves tests and single-process local runs; every call walks what
 * it needs, which is fine at those sizes.
 */
import { parseAddress } from "#shared/core/endpointslice/ip-address.ts";
import { identityRangeUse } from "#shared/core/identity/identity-range-use.ts";
import type { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumIdentity, PodRecord } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { indexedAddresses } from "#shared/core/pod-addresses.ts";
import type { PipelineCountsSource } from "#shared/pipeline/pipeline-counts.ts";
import { API_RESOURCES, OUTPUT_KINDS } from "./api-resources.ts";
import { ContinueTokens, queryFingerprint } from "./continue-token.ts";
import { type IPClaim, winningClaim } from "./ipcache-claims.ts";
import { PageCollector } from "./page-budget.ts";
import {
  compareKeys,
  type IPCacheEntry,
  type ListOptions,
  type ListPagingOptions,
  type ListResult,
  listKey,
  listResult,
  matchesListSelectors,
  type SliceReader,
  type SliceStats,
} from "./slice-reader.ts";
import {
  pipelineRateMinutes,
  pipelineRates,
  resourceVersionAt,
  STATS_RATE_WINDOW_SECONDS,
  statsRates,
  writtenSince,
} from "./stats-rates.ts";
import { expiredContinue } from "./status.ts";

export interface MemorySliceReaderOptions extends ListPagingOptions {
  readonly now?: () => number;
  /** The pipeline's per-minute counters, where the in-process pipeline records them (none: zeros). */
  readonly pipelineCounts?: PipelineCountsSource;
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
    const matches = ({ object }: { object: OutputObject }): boolean => matchesListSelectors(options, object);
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
    return listResult(
      page.items,
      more ? this.#tokens.encode(fingerprint, { after: resumeAfter as string }) : undefined,
    );
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
    const claims: MemoryClaim[] = [];
    for (const group of this.#store.groups()) {
      for (const [name, entry] of group.pods) {
        const pod = entry.record;
        // The same addresses the DynamoDB writer indexes, so both readers answer alike.
        const { ipv4, ipv6 } = indexedAddresses(pod);
        if (pod === undefined || (ipv4 !== wanted && ipv6 !== wanted)) continue;
        claims.push({
          namespace: group.name,
          name,
          resourceVersion: entry.resourceVersion,
          pod,
          identity: group.podIdentities.get(name),
        });
      }
    }
    const winner = winningClaim(claims);
    return winner === undefined ? undefined : this.#entry(ip, winner);
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

  /** Counts, identity range use and rates (stats-rates.ts), as the DynamoDB reader computes them. */
  async stats(): Promise<SliceStats> {
    const now = this.#options.now?.() ?? Date.now();
    const since = resourceVersionAt(now - STATS_RATE_WINDOW_SECONDS * 1000);
    const perKind = (count: (kind: OutputKind) => number) =>
      Object.fromEntries(OUTPUT_KINDS.map((kind) => [kind, count(kind)])) as Record<OutputKind, number>;
    const { allocator } = this.#store.identities;
    const pipelineCounts =
      (await this.#options.pipelineCounts?.pipelineCountsOf(pipelineRateMinutes(now))) ?? new Map();
    return {
      counts: perKind((kind) => this.#store.objects(kind).size),
      identities: identityRangeUse(allocator.size, allocator.minId, allocator.maxId),
      rates: statsRates(
        perKind(
          (kind) =>
            [...this.#store.objects(kind).values()].filter(({ object }) =>
              writtenSince(object.metadata.resourceVersion, since),
            ).length,
        ),
        pipelineRates(now, pipelineCounts),
      ),
      asOf: new Date(now).toISOString(),
    };
  }

  #entry(ip: string, match: MemoryClaim): IPCacheEntry {
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

interface MemoryClaim extends IPClaim {
  readonly pod: PodRecord;
  readonly identity: number | undefined;
}

function afterKey(key: Readonly<Record<string, string>>): string {
  const after = key.after;
  if (after === undefined || Object.keys(key).length !== 1) throw expiredContinue();
  return after;
}
