/**
 * The coalesced delivery format ("sliceline best"): one message per scope per fan-out invocation,
 * carrying every change of that stream batch, each as a delta against the version the watcher
 * already holds instead of the whole slice.
 *
 * Why: a slice of 100 endpoints changes because one endpoint did. Sending the slice costs ~100x the
 * bytes of the change, and sending one message per slice write costs one delivery per write per
 * watcher. The stream record has both images, so the fan-out can diff them for free, and a stream
 * batch already holds one ingest batch's writes, so bundling them costs no extra latency.
 *
 * Consecutive changes of one object within a batch are merged into one (first before-image to last
 * after-image), so a bundle names each object once unless it was deleted and re-created.
 *
 * Watchers apply a patch only on top of exactly `previousResourceVersion`; anything else is either a
 * duplicate (their version is ≥ resourceVersion) or a gap (any other version, or no copy at all),
 * and a gap is filled by re-reading that one object from the HTTP API. A DELETED carries the
 * object's last version and removes that version or an older one. Applying: slice-delta.ts.
 *
 * Zone views (scope EndpointSlice@zone) patch on content, not on a version: a zone watcher does not
 * see the versions in which its zone's part did not change, so the version before a change is not
 * one it holds. A zone-view patch names instead `baseViewSum`, the digest of the zone view it applies
 * on (zone-view-sum.ts zoneViewSum); a watcher whose copy is older than the change and has that
 * digest applies it, any other copy is a gap. ADDED and DELETED zone views (the zone's part appears
 * or empties) and changes beyond the items travel whole, as for full slices.
 */
import type { CoreCiliumEndpoint, Endpoint } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { WatchEventType } from "./change-routing.ts";

/** Items are keyed: EndpointSlice endpoints by targetRef uid, CES endpoints by name. */
export interface SlicePatch {
  readonly upsert: readonly (Endpoint | CoreCiliumEndpoint)[];
  readonly remove: readonly string[];
}

export interface BundledChange {
  readonly type: WatchEventType;
  readonly kind: OutputKind;
  /** metadata.namespace for EndpointSlices; the CES's `namespace` field is inside the object. */
  readonly namespace?: string;
  readonly name: string;
  readonly resourceVersion: string;
  /**
   * The version a patch applies on top of; present on every MODIFIED and DELETED. On a zone-view
   * patch it is the full slice's version before the change, for information only: see baseViewSum.
   */
  readonly previousResourceVersion?: string;
  /** A zone-view patch: the zone view it applies on, by content (zone-view-sum.ts zoneViewSum). */
  readonly baseViewSum?: string;
  /**
   * The same base by the earlier digest (zone-view-sum.ts zoneViewDigest), for agents from before
   * baseViewSum; a watcher that reads baseViewSum ignores it.
   */
  readonly baseDigest?: string;
  /** Earliest source-event time the change includes (ms since epoch). */
  readonly sourceTimeMs: number;
  /** The zone this view was cut for; absent for full objects. */
  readonly zone?: string;
  /** ADDED, identities, or any change beyond the item list: the whole object. */
  readonly object?: OutputObject;
  /** MODIFIED where only items changed: what changed. */
  readonly patch?: SlicePatch;
  /** The change did not fit in a message: re-read the object from the API. */
  readonly reference?: true;
}

export interface ChangeBundle {
  /** Format marker and version: a watcher tells bundles from single change messages by it. */
  readonly bundle: 1;
  readonly scope: string;
  readonly changes: readonly BundledChange[];
}
