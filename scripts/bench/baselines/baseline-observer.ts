/**
 * Counts what the comparison baselines would have written, from the core's committed reconciles:
 * one CiliumEndpoint per pod with its identity's full labels, written whenever its JSON changes,
 * and one v1 Endpoints per Service, rewritten whole whenever any slice of the Service is.
 */
import { securityLabels } from "#shared/core/identity/security-labels.ts";
import { jsonBytes, type WriteOp } from "#shared/core/output-changes.ts";
import type { ReconciledGroup, ReconcileObserver } from "#shared/core/reconcile-observer.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";
import { ciliumEndpointForPod } from "./cilium-endpoint.ts";
import { endpointsFromSlices } from "./endpoints-v1.ts";

export type BaselineKind = "CiliumEndpoint" | "Endpoints";

export interface BaselineWrite {
  readonly kind: BaselineKind;
  readonly op: WriteOp;
  readonly bytes: number;
}

export class BaselineObserver implements ReconcileObserver {
  /** Serialized CiliumEndpoints by "<namespace>/<pod>", to write only what changed. */
  readonly #ciliumEndpoints = new Map<string, string>();
  #pending: BaselineWrite[] = [];

  groupReconciled(group: ReconciledGroup, settings: SlicingSettings): void {
    this.#countCiliumEndpoints(group, settings);
    this.#countEndpoints(group);
  }

  /** The baseline writes counted since the last call. */
  drain(): BaselineWrite[] {
    const writes = this.#pending;
    this.#pending = [];
    return writes;
  }

  #countCiliumEndpoints(group: ReconciledGroup, settings: SlicingSettings): void {
    for (const { name, entry } of group.ciliumEntriesChanged) {
      const key = `${group.namespace}/${name}`;
      const previous = this.#ciliumEndpoints.get(key);
      const pod = group.pod(name);
      if (entry === undefined || pod === undefined) {
        if (previous !== undefined) {
          this.#ciliumEndpoints.delete(key);
          this.#pending.push({ kind: "CiliumEndpoint", op: "delete", bytes: Buffer.byteLength(previous) });
        }
        continue;
      }
      const labels = securityLabels(pod, group.namespaceRecord, settings.identityLabelPolicy);
      const serialized = JSON.stringify(ciliumEndpointForPod(pod, { id: entry.id, labels }));
      if (serialized === previous) continue;
      this.#ciliumEndpoints.set(key, serialized);
      this.#pending.push({
        kind: "CiliumEndpoint",
        op: previous === undefined ? "create" : "update",
        bytes: Buffer.byteLength(serialized),
      });
    }
  }

  #countEndpoints(group: ReconciledGroup): void {
    for (const serviceName of group.servicesWritten) {
      const bytes = jsonBytes(
        endpointsFromSlices(group.namespace, serviceName, group.serviceSlices(serviceName)),
      );
      this.#pending.push({
        kind: "Endpoints",
        op: group.serviceLive(serviceName) ? "update" : "delete",
        bytes,
      });
    }
  }
}
