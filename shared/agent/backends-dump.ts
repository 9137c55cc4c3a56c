/**
 * What a node agent derived from its slices, as one JSON document (`--dump FILE|-`): the IPCache
 * (cilium-agent's view) and the Service backends (kube-proxy's view). The shape is documented in
 * README.md ("Node agent") and is sorted, so two dumps of equal state are equal text.
 */
import type { WatcherCache } from "#shared/watcher/watcher-cache.ts";

export const BACKENDS_DUMP_FORMAT = "sliceline-node-backends/1";

export interface BackendsDump {
  readonly format: typeof BACKENDS_DUMP_FORMAT;
  readonly node: string;
  /** The agent's applied watermark (source-event time, ms), if it has one. */
  readonly appliedThroughMs: number | null;
  readonly ipcache: ReadonlyArray<{
    readonly ip: string;
    readonly identity: number;
    /** null while the agent does not hold the identity. */
    readonly labels: Readonly<Record<string, string>> | null;
    readonly nodeIP: string | null;
    readonly namespace: string;
    readonly pod: string;
  }>;
  readonly services: ReadonlyArray<{
    readonly namespace: string;
    readonly service: string;
    readonly backends: ReadonlyArray<{
      readonly addressType: string;
      readonly addresses: readonly string[];
      readonly ready: boolean;
      readonly serving: boolean;
      readonly terminating: boolean;
      readonly nodeName: string | null;
      readonly zone: string | null;
      readonly pod: string;
      readonly ports: ReadonlyArray<{
        name?: string;
        port?: number;
        protocol?: string;
        appProtocol?: string;
      }>;
    }>;
  }>;
}

export function backendsDump(
  node: string,
  cache: WatcherCache,
  appliedThroughMs: number | undefined,
): BackendsDump {
  const ipcache = cache
    .ipcacheEntries()
    .map((entry) => ({
      ip: entry.ip,
      identity: entry.identity,
      labels: entry.labels ?? null,
      nodeIP: entry.nodeIP ?? null,
      namespace: entry.namespace,
      pod: entry.pod,
    }))
    .sort((a, b) => compare(a.ip, b.ip));
  const services = cache
    .services()
    .map(([namespace, service]) => ({
      namespace,
      service,
      backends: cache
        .backends(namespace, service)
        .map((backend) => ({
          addressType: backend.addressType,
          addresses: [...backend.addresses],
          ready: backend.ready,
          serving: backend.serving,
          terminating: backend.terminating,
          nodeName: backend.nodeName ?? null,
          zone: backend.zone ?? null,
          pod: backend.pod,
          ports: backend.ports.map((port) => ({ ...port })),
        }))
        .sort((a, b) => compare(a.addresses.join(","), b.addresses.join(",")) || compare(a.pod, b.pod)),
    }))
    .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.service, b.service));
  return {
    format: BACKENDS_DUMP_FORMAT,
    node,
    appliedThroughMs: appliedThroughMs ?? null,
    ipcache,
    services,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
