/**
 * What the bridge sends of a Kubernetes object: the fields docs/contract.md §1 reads, with `kind` and
 * `apiVersion` filled in (list responses and informer caches leave them empty). Everything else
 * (managedFields, annotations, most of status) is dropped here rather than shipped through SQS:
 * ingest would ignore it anyway, and a pod's full object is often ten times its useful part.
 */

export const BRIDGE_KINDS = ["Pod", "Service", "Namespace", "Node"] as const;
export type BridgeKind = (typeof BRIDGE_KINDS)[number];

/** The Kubernetes object as client-node hands it over (plain JSON, or its model classes with Dates). */
export type KubeObject = {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

export interface ContractObject {
  readonly kind: BridgeKind;
  readonly apiVersion: "v1";
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion: string;
    readonly labels?: Record<string, string>;
    readonly deletionTimestamp?: string;
  };
  readonly spec?: Record<string, unknown>;
  readonly status?: Record<string, unknown>;
}

export function contractObject(kind: BridgeKind, object: KubeObject): ContractObject {
  const metadata = object.metadata ?? {};
  const namespaced = kind === "Pod" || kind === "Service";
  return {
    kind,
    apiVersion: "v1",
    metadata: compact({
      name: metadata.name ?? "",
      namespace: namespaced ? metadata.namespace : undefined,
      uid: metadata.uid,
      resourceVersion: metadata.resourceVersion ?? "",
      labels: metadata.labels,
      deletionTimestamp: timestamp(metadata.deletionTimestamp),
    }) as ContractObject["metadata"],
    ...projection(kind, object),
  };
}

function projection(kind: BridgeKind, object: KubeObject): Pick<ContractObject, "spec" | "status"> {
  const spec = object.spec ?? {};
  const status = object.status ?? {};
  switch (kind) {
    case "Pod":
      return {
        spec: compact({
          nodeName: spec.nodeName,
          hostNetwork: spec.hostNetwork,
          containers: Array.isArray(spec.containers)
            ? spec.containers.map((container: { ports?: unknown }) => compact({ ports: container.ports }))
            : undefined,
        }),
        status: compact({
          podIP: status.podIP,
          podIPs: status.podIPs,
          hostIP: status.hostIP,
          phase: status.phase,
          conditions: Array.isArray(status.conditions)
            ? status.conditions
                .filter((condition: { type?: string }) => condition.type === "Ready")
                .map((condition: { type?: string; status?: string }) => ({
                  type: condition.type,
                  status: condition.status,
                }))
            : undefined,
        }),
      };
    case "Service":
      return {
        spec: compact({
          selector: spec.selector,
          ports: spec.ports,
          type: spec.type,
          clusterIP: spec.clusterIP,
          ipFamilies: spec.ipFamilies,
          publishNotReadyAddresses: spec.publishNotReadyAddresses,
        }),
      };
    case "Namespace":
      return {};
    case "Node":
      return { status: compact({ addresses: status.addresses }) };
  }
}

/** client-node's models turn date-times into Date objects; the contract carries strings. */
function timestamp(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return value instanceof Date ? value.toISOString() : String(value);
}

/** Drops undefined and null fields, so the JSON stays as small as the source allows. */
function compact(fields: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields))
    if (value !== undefined && value !== null) kept[key] = value;
  return kept;
}
