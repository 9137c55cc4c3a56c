/**
 * The watcher library's agent as a fleet member of the live pass: a node agent watching what a
 * cilium-agent and kube-proxy on one node watch (CiliumEndpointSlices, CiliumIdentities,
 * EndpointSlices, the last cut to the node's zone when zone-only).
 */
import { WatcherAgent } from "#shared/watcher/watcher-agent.ts";
import type { LiveWatcher, WatcherFactoryInput } from "./live-watcher.ts";

export function createLiveWatcher(input: WatcherFactoryInput): LiveWatcher {
  const deleteIntervalMs = input.deleteIntervalMs;
  const agent = new WatcherAgent({
    api: input.api,
    node: input.node,
    zone: input.zone,
    zoneOnly: input.zoneOnly,
    kinds: ["CiliumEndpointSlice", "CiliumIdentity", "EndpointSlice"],
    sqs: input.sqs,
    latency: input.latency,
    ...(input.onApplied === undefined ? {} : { onApplied: input.onApplied }),
    ...(deleteIntervalMs === undefined ? {} : { deferDeletes: true }),
  });
  let deletedAtMs = Date.now();
  const flushDeletes = async (force: boolean) => {
    if (deleteIntervalMs === undefined || (!force && Date.now() - deletedAtMs < deleteIntervalMs)) return;
    deletedAtMs = Date.now();
    await agent.flushDeletes();
  };
  let base = { messages: 0, bytes: 0, objectsRead: 0, bytesRead: 0 };
  return {
    node: input.node,
    zone: input.zone,
    get received() {
      return { messages: agent.stats.messages - base.messages, bytes: agent.stats.bytes - base.bytes };
    },
    get read() {
      return {
        objects: agent.stats.objectsRead - base.objectsRead,
        bytes: agent.stats.bytesRead - base.bytesRead,
      };
    },
    get gapsRefetched() {
      return agent.stats.gapsRefetched;
    },
    resetCounters() {
      const { messages, bytes, objectsRead, bytesRead } = agent.stats;
      base = { messages, bytes, objectsRead, bytesRead };
    },
    digest: () => agent.cache.digest(),
    register: async () => {
      await agent.register();
    },
    list: () => agent.list(),
    pollOnce: async (waitSeconds) => {
      const { received } = await agent.pollOnce(waitSeconds);
      await flushDeletes(false);
      return received;
    },
    deregister: async () => {
      await flushDeletes(true);
      await agent.deregister();
    },
    forget: () => agent.forget(),
  };
}
