/**
 * Fleet convergence for /v1/stats (`convergence`): "have all nodes applied change X", from the
 * nodes' acknowledged applied watermarks (POST /v1/watchers/{node}/applied). Pure.
 *
 * Definitions (docs/aws.md "Node agent: acknowledgements and convergence"):
 *   - a node's watermark W: every change with a source-event time ≤ W that was delivered to the
 *     node has been applied (the agent reports it when its queue is drained and no patch waits);
 *   - the fleet watermark: the smallest latest W over the live registrations, when every one has
 *     acknowledged at least once (null otherwise): every node applied everything up to it;
 *   - convergence time of a source time s: from s until the last node registered at s
 *     acknowledged a watermark ≥ s (acks are throttled, so this is an upper bound by up to the
 *     agents' ack interval). Samples are the watermarks the nodes acknowledged in their kept
 *     histories; p50/p99 by nearest rank. A sample is skipped when some node's kept history does
 *     not reach back far enough to know when it first passed s, or has not passed s yet.
 */
import type { WatcherApplied } from "./watcher-registry.ts";

export interface FleetConvergence {
  /** Live registrations, and those that acknowledged at least once. */
  readonly nodes: number;
  readonly acknowledged: number;
  /** Every node applied everything up to this source-event time (ms); null until all acknowledged. */
  readonly watermarkMs: number | null;
  /** The node furthest behind: its latest watermark and how old it is. */
  readonly oldest: {
    readonly node: string;
    readonly appliedThroughMs: number;
    readonly ageMs: number;
  } | null;
  /** Time from a source event until every registered node applied it. */
  readonly latency: {
    readonly samples: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  } | null;
}

export function fleetConvergence(nodes: readonly WatcherApplied[], nowMs: number): FleetConvergence {
  const acknowledged = nodes.filter((node) => node.acks.length > 0);
  let oldest: FleetConvergence["oldest"] = null;
  for (const node of acknowledged) {
    const latest = node.acks.at(-1)?.appliedThroughMs as number;
    if (oldest === null || latest < oldest.appliedThroughMs)
      oldest = { node: node.node, appliedThroughMs: latest, ageMs: nowMs - latest };
  }
  const allAcknowledged = nodes.length > 0 && acknowledged.length === nodes.length;
  return {
    nodes: nodes.length,
    acknowledged: acknowledged.length,
    watermarkMs: allAcknowledged && oldest !== null ? oldest.appliedThroughMs : null,
    oldest,
    latency: convergenceLatency(nodes),
  };
}

function convergenceLatency(nodes: readonly WatcherApplied[]): FleetConvergence["latency"] {
  const sourceTimes = new Set<number>();
  for (const node of nodes) for (const ack of node.acks) sourceTimes.add(ack.appliedThroughMs);
  const samples: number[] = [];
  for (const sourceMs of sourceTimes) {
    const convergedAt = convergedAtMs(nodes, sourceMs);
    if (convergedAt !== undefined) samples.push(Math.max(0, convergedAt - sourceMs));
  }
  if (samples.length === 0) return null;
  samples.sort((a, b) => a - b);
  return {
    samples: samples.length,
    p50Ms: nearestRank(samples, 0.5),
    p99Ms: nearestRank(samples, 0.99),
    maxMs: samples.at(-1) as number,
  };
}

/** When the last node registered at `sourceMs` first acknowledged a watermark ≥ it; undefined if unknown. */
function convergedAtMs(nodes: readonly WatcherApplied[], sourceMs: number): number | undefined {
  let last: number | undefined;
  let anyNode = false;
  for (const node of nodes) {
    if (node.registeredAtMs > sourceMs) continue;
    anyNode = true;
    const index = node.acks.findIndex((ack) => ack.appliedThroughMs >= sourceMs);
    if (index < 0) return undefined;
    // The first kept ack passes s, but a dropped older one may have passed it earlier.
    if (index === 0 && node.ackCount > node.acks.length) return undefined;
    const at = (node.acks[index] as { atMs: number }).atMs;
    if (last === undefined || at > last) last = at;
  }
  return anyNode ? last : undefined;
}

function nearestRank(sorted: readonly number[], quantile: number): number {
  const rank = Math.max(1, Math.ceil(quantile * sorted.length));
  return sorted[rank - 1] as number;
}
