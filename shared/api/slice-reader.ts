/**
 * The read port of the HTTP API: what the router needs from storage, and nothing about how it is
 * stored. memory-reader.ts serves a MemoryClusterStore (tests, local runs), adapters/dynamodb/slice-reader.ts the
 * slices, state and identities tables.
 *
 * Ordering: lists come in storage-key order, by name within a namespace and by
 * "<namespace>/<name>" across namespaces (the byKind index's sort key), the same in every adapter,
 * so pages resume where they stopped.
 */
import type { IdentityRangeUse } from "#shared/core/identity/identity-range-use.ts";
import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { ContinueTokens } from "./continue-token.ts";
import { type FieldSelector, type LabelSelector, matchesFields, matchesLabels } from "./label-selector.ts";
import type { PageBudget } from "./page-budget.ts";
import type { StatsRates } from "./stats-rates.ts";

export interface ListOptions {
  /** At most this many items (undefined or 0: all). */
  readonly limit?: number | undefined;
  /** From a previous page's result; a malformed or foreign one throws a 410 Expired StatusError. */
  readonly continueToken?: string | undefined;
  readonly labelSelector?: LabelSelector | undefined;
  readonly fieldSelector?: FieldSelector | undefined;
}

/** How a reader pages its lists: options every adapter takes. */
export interface ListPagingOptions {
  /** Signs continue tokens (default: a random key of this reader's own, good for one process). */
  readonly continueTokens?: ContinueTokens;
  /** What one list may read and return (default DEFAULT_PAGE_BUDGET). */
  readonly pageBudget?: PageBudget;
}

export interface ListResult {
  readonly items: readonly OutputObject[];
  /** Set when more items may follow; pass it back as continueToken. */
  readonly continueToken: string | undefined;
  /** The highest resourceVersion among the items, as a decimal string ("0" for none). */
  readonly resourceVersion: string;
}

export interface IPCacheEntry {
  readonly ip: string;
  readonly namespace: string;
  readonly pod: string;
  /** A host-network pod shares its node's IP; it has no endpoint identity of its own. */
  readonly hostNetwork: boolean;
  /** The pod's security identity, with its labels when they are known. */
  readonly identity: { readonly id: number; readonly labels?: Readonly<Record<string, string>> } | undefined;
  readonly node: { readonly nodeName: string | undefined; readonly hostIP: string | undefined };
}

export interface SliceStats {
  /** Stored objects per kind. */
  readonly counts: Readonly<Record<OutputKind, number>>;
  /** Security identities allocated against the identity range: the cardinality guard. */
  readonly identities: IdentityRangeUse;
  /** Write rates over a recent window, and what they measure (shared/api/stats-rates.ts). */
  readonly rates: StatsRates;
  /** When the counts were taken (RFC 3339); an adapter may serve them from a short cache. */
  readonly asOf: string;
}

export interface SliceReader {
  /** namespace undefined: across namespaces (for cluster-scoped kinds, always undefined). */
  list(kind: OutputKind, namespace: string | undefined, options?: ListOptions): Promise<ListResult>;
  /** namespace is ignored for cluster-scoped kinds. */
  get(kind: OutputKind, namespace: string | undefined, name: string): Promise<OutputObject | undefined>;
  /** The live pod behind an IP (a pod's own IP preferred over a host-network pod's node IP). */
  lookupIP(ip: string): Promise<IPCacheEntry | undefined>;
  /**
   * Whether sliceline knows the namespace (kubectl asks /api/v1/namespaces/{ns} after a NotFound,
   * to tell a missing object from a missing namespace).
   */
  namespaceExists(namespace: string): Promise<boolean>;
  stats(): Promise<SliceStats>;
}

/** The highest resourceVersion among objects, "0" when there are none. */
export function highestResourceVersion(objects: Iterable<OutputObject>): string {
  let highest = "0";
  for (const object of objects) {
    const version = object.metadata.resourceVersion;
    if (version !== undefined && compareResourceVersions(version, highest) > 0) highest = version;
  }
  return highest;
}

/** A page as a list returns it: its items, the token to read on from (if any), their highest resourceVersion. */
export function listResult(items: readonly OutputObject[], continueToken: string | undefined): ListResult {
  return { items, continueToken, resourceVersion: highestResourceVersion(items) };
}

/** Whether an object passes a list's label and field selectors (an absent one passes everything). */
export function matchesListSelectors(options: ListOptions, object: OutputObject): boolean {
  return (
    (options.labelSelector === undefined || matchesLabels(options.labelSelector, object.metadata.labels)) &&
    (options.fieldSelector === undefined || matchesFields(options.fieldSelector, object))
  );
}

/** The sort key of an object in list order (the slices table's nsName). */
export function listKey(object: OutputObject): string {
  return object.kind === "EndpointSlice"
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
}

/** Storage order of sort keys: DynamoDB compares strings as UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 code-unit order is UTF-8 byte order except where surrogates meet U+E000..U+FFFF.
  if (!WIDE.test(a) && !WIDE.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const WIDE = /[\uD800-\uFFFF]/;
