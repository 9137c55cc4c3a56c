/** The node agent's /metrics families, from its WatcherAgent and its own counters. */
import type { WatcherAgent } from "#shared/watcher/watcher-agent.ts";
import type { MetricFamily } from "./prometheus-text.ts";

export interface NodeAgentCounters {
  snapshotsSaved: number;
  snapshotBytes: number;
  snapshotErrors: number;
  acks: number;
  ackErrors: number;
  pollErrors: number;
  /** 1 when the agent started from its saved state without a list, 0 when it listed. */
  resumed: number;
  /** Objects read from the API while starting (a list, or none when resumed). */
  startupObjectsRead: number;
}

const PREFIX = "sliceline_agent_";

export function nodeAgentMetrics(
  agent: WatcherAgent,
  counters: NodeAgentCounters,
  nowMs: number,
): MetricFamily[] {
  const { stats } = agent;
  const counts = agent.cache.counts();
  const latency = agent.latency.summary();
  const family = (
    name: string,
    help: string,
    type: MetricFamily["type"],
    samples: MetricFamily["samples"],
  ): MetricFamily => ({ name: `${PREFIX}${name}`, help, type, samples });
  const counter = (name: string, help: string, value: number) => family(name, help, "counter", [{ value }]);
  const gauge = (name: string, help: string, value: number) => family(name, help, "gauge", [{ value }]);
  const through = agent.appliedThroughMs;
  return [
    counter("messages_received_total", "Queue messages (bundles) received", stats.messages),
    counter("bytes_received_total", "Body bytes of the queue messages received", stats.bytes),
    counter("changes_applied_total", "Changes applied to the cache", stats.applied),
    counter("duplicates_total", "Changes already held (duplicates or older copies)", stats.duplicates),
    counter("gaps_held_total", "Patches that arrived before their base and were held", stats.gapsHeld),
    counter(
      "gaps_refetched_total",
      "Objects re-read because a held patch's base never came",
      stats.gapsRefetched,
    ),
    gauge("gaps_open", "Patches waiting for their base now", agent.heldGaps),
    counter(
      "references_fetched_total",
      "Objects read because the change was too big for a message",
      stats.referencesFetched,
    ),
    counter(
      "relists_total",
      "Full re-lists (after an outage, or a state that could not be resumed)",
      stats.relists,
    ),
    counter(
      "recoveries_total",
      "Outages detected and recovered from (re-register and re-list)",
      stats.recoveries,
    ),
    counter("objects_read_total", "Objects read from the API (lists and single reads)", stats.objectsRead),
    counter("bytes_read_total", "Response bytes read from the API", stats.bytesRead),
    counter(
      "malformed_total",
      "Queue message bodies that were not a valid change (dropped, counted)",
      stats.malformed,
    ),
    counter("ignored_total", "Changes of kinds the agent did not ask for", stats.ignored),
    counter("heartbeats_total", "Registration reads that kept the registration alive", stats.heartbeats),
    family("objects_held", "Objects held, by kind", "gauge", [
      { labels: { kind: "EndpointSlice" }, value: counts.endpointSlices },
      { labels: { kind: "CiliumEndpointSlice" }, value: counts.ciliumEndpointSlices },
      { labels: { kind: "CiliumIdentity" }, value: counts.identities },
    ]),
    gauge("endpoints_held", "EndpointSlice endpoints held", counts.endpoints),
    gauge("ipcache_entries", "IPCache entries (IPs)", counts.ipcacheEntries),
    gauge("services", "Services with backends", counts.services),
    family("propagation_latency_milliseconds", "Source event to applied on this node", "summary", [
      { labels: { quantile: "0.5" }, value: latency.p50Ms },
      { labels: { quantile: "0.9" }, value: latency.p90Ms },
      { labels: { quantile: "0.99" }, value: latency.p99Ms },
      { suffix: "_count", value: latency.count },
    ]),
    gauge(
      "applied_through_timestamp_seconds",
      "Applied watermark: source-event time through which everything delivered is applied (0: none yet)",
      through === undefined ? 0 : through / 1000,
    ),
    gauge(
      "lag_seconds",
      "Now minus the applied watermark (NaN before the first one)",
      through === undefined ? Number.NaN : Math.max(0, nowMs - through) / 1000,
    ),
    counter("acks_total", "Applied watermarks acknowledged to the API", counters.acks),
    counter("ack_errors_total", "Acknowledgements that failed", counters.ackErrors),
    counter(
      "snapshots_saved_total",
      "State snapshots written to the state directory",
      counters.snapshotsSaved,
    ),
    gauge("snapshot_bytes", "Size of the last state snapshot", counters.snapshotBytes),
    counter("snapshot_errors_total", "State snapshots that failed", counters.snapshotErrors),
    counter("poll_errors_total", "Receive cycles that failed (retried after a second)", counters.pollErrors),
    gauge("resumed", "1 when this run resumed from its saved state, 0 when it listed", counters.resumed),
    gauge("startup_objects_read", "Objects read from the API while starting", counters.startupObjectsRead),
  ];
}
