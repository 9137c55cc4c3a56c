/**
 * A window on a namespace group right after a reconcile was committed, for observers outside the
 * product: the benchmark counts from it what the per-endpoint (CiliumEndpoint) and per-Service
 * (v1 Endpoints) baselines would have written, so the core computes no baseline itself.
 */
import type { CoreCiliumEndpoint, EndpointSlice, NamespaceRecord, PodRecord } from "./model.ts";
import type { SlicingSettings } from "./settings.ts";

export interface ReconciledGroup {
  readonly namespace: string;
  readonly namespaceRecord: NamespaceRecord | undefined;
  /** Pods whose CiliumEndpointSlice entry may have changed, with the entry they now have. */
  readonly ciliumEntriesChanged: ReadonlyArray<{
    readonly name: string;
    readonly entry: CoreCiliumEndpoint | undefined;
  }>;
  /** Services whose EndpointSlices were written by this reconcile. */
  readonly servicesWritten: ReadonlySet<string>;
  pod(name: string): PodRecord | undefined;
  serviceLive(name: string): boolean;
  serviceSlices(name: string): readonly EndpointSlice[];
}

export interface ReconcileObserver {
  groupReconciled(group: ReconciledGroup, settings: SlicingSettings): void;
}
