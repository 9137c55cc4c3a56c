/**
 * "ces-50" / "ces-100": Cilium with CiliumEndpointSlices. Agents still write one CiliumEndpoint
 * per pod (only cilium-operator watches those); the operator packs them into CES (the core's CES
 * packing at that capacity) and writes a CES when its rate-limited work queue reaches it, so the
 * changes a CES collects while queued go out in one write. Every agent watches every CES and every
 * CiliumIdentity.
 *
 * The work queue: a CES is queued once however often it changes; a token bucket (cilium-operator's
 * --ces-rate-limits: tiers by node count, default one tier of 10 writes/s with a burst of 20, never
 * above 50/s and 100) admits the writes; each write carries the CES as it is at that moment.
 */
import type { ReplayBatch } from "#scripts/bench/model/core-replay.ts";
import { FleetTally, NamedLiveObjects, type StrategyRun } from "#scripts/bench/model/strategy-run.ts";
import type { Trace } from "#scripts/bench/types.ts";
import { Broadcaster } from "./broadcast.ts";

export interface CesRateLimit {
  readonly writesPerSecond: number;
  readonly burst: number;
}

/** One tier of cilium-operator's --ces-rate-limits: applies from `nodes` nodes up. */
export interface CesRateLimitTier {
  readonly nodes: number;
  readonly limit: number;
  readonly burst: number;
}

/** cilium-operator's default --ces-rate-limits: [{"nodes":0,"limit":10,"burst":20}]. */
export const DEFAULT_CES_RATE_LIMITS: readonly CesRateLimitTier[] = [{ nodes: 0, limit: 10, burst: 20 }];

/** The operator's hard ceilings, whatever the configuration (CESWriteQPSLimitMax, CESWriteQPSBurstMax). */
const MAX_LIMIT = 50;
const MAX_BURST = 100;

/** The dynamic limit for a cluster of `nodes`: the tier with the most nodes not above it, capped. */
export function cesRateLimitFor(
  nodes: number,
  tiers: readonly CesRateLimitTier[] = DEFAULT_CES_RATE_LIMITS,
): CesRateLimit {
  let chosen = tiers[0] ?? { nodes: 0, limit: 10, burst: 20 };
  for (const tier of tiers) if (tier.nodes <= nodes && tier.nodes >= chosen.nodes) chosen = tier;
  return { writesPerSecond: Math.min(chosen.limit, MAX_LIMIT), burst: Math.min(chosen.burst, MAX_BURST) };
}

interface Pending {
  readonly firstChangeMs: number;
  op: "create" | "update" | "delete";
  bytes: number;
}

/** CiliumEndpoint writes of one trace event, from the replay that counted the baseline. */
export type CiliumEndpointWrites = (eventIndex: number) => { writes: number; bytes: number } | undefined;

export function ciliumEndpointSlices(
  trace: Trace,
  maxEndpointsPerCES: number,
  ciliumEndpointWrites: CiliumEndpointWrites,
  limit: CesRateLimit = cesRateLimitFor(trace.scenario.nodes),
): { run: StrategyRun; onBatch(batch: ReplayBatch): void; finish(): void } {
  const tally = new FleetTally(trace.scenario.zones.length);
  const fanout = new Broadcaster(trace, tally);
  const slices = new NamedLiveObjects();
  const identities = new NamedLiveObjects();
  const snapshot = () => {
    const a = slices.snapshot();
    const b = identities.snapshot();
    return { objects: a.objects + b.objects, bytes: a.bytes + b.bytes };
  };
  /** Slices as the agents last saw them written (a CES created and emptied while queued is never written). */
  const published = new Set<string>();
  const pending = new Map<string, Pending>();
  const queue: string[] = [];
  let head = 0;
  let tokens = limit.burst;
  let tokensAtMs = 0;

  const refill = (atMs: number) => {
    tokens = Math.min(limit.burst, tokens + ((atMs - tokensAtMs) * limit.writesPerSecond) / 1000);
    tokensAtMs = atMs;
  };
  /** Runs the queue's writes that happen before `untilMs`. */
  const drain = (untilMs: number) => {
    while (head < queue.length) {
      const name = queue[head] as string;
      const item = pending.get(name) as Pending;
      let atMs = Math.max(item.firstChangeMs, tokensAtMs);
      refill(atMs);
      if (tokens < 1) {
        atMs += ((1 - tokens) * 1000) / limit.writesPerSecond;
        refill(atMs);
      }
      if (atMs > untilMs) return;
      tokens -= 1;
      head++;
      pending.delete(name);
      const exists = published.has(name);
      if (item.op === "delete" && !exists) continue;
      if (item.op === "delete") published.delete(name);
      else published.add(name);
      fanout.write(atMs, item.bytes, item.firstChangeMs);
    }
    if (head > 4096 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
  };

  return {
    run: {
      strategy: `ces-${maxEndpointsPerCES}`,
      description: `CiliumEndpointSlices of ${maxEndpointsPerCES}, written through cilium-operator's rate-limited queue (${limit.writesPerSecond}/s, burst ${limit.burst}), to every agent`,
      tally,
      notes: [
        `CES packing is the core's (fcfs) at ${maxEndpointsPerCES} per CES, computed per source event; the operator's queue then coalesces: one write per CES per sync at ${limit.writesPerSecond} writes/s (burst ${limit.burst}).`,
        "objectWrites include the agents' CiliumEndpoint writes (the core's baseline), each delivered to cilium-operator only.",
        "Latency: from a CES's first queued change to its write, plus the API server's watch fan-out queue (100k events/s).",
      ],
    },
    onBatch(batch) {
      if (batch.measured) {
        drain(batch.atMs);
        fanout.relistsDue(batch, snapshot);
        for (let i = batch.from; i < batch.to; i++) {
          const endpoints = ciliumEndpointWrites(i);
          if (endpoints === undefined) continue;
          tally.objectWrites += endpoints.writes;
          tally.toFixed(batch.atMs, endpoints.writes, endpoints.bytes);
        }
      }
      for (const write of batch.report.writes) {
        const name = write.object.metadata.name;
        if (write.kind === "CiliumIdentity") {
          identities.record(name, write.op, write.bytes);
          if (batch.measured) fanout.write(batch.atMs, write.bytes, write.sourceTimeMs);
          continue;
        }
        if (write.kind !== "CiliumEndpointSlice") continue;
        slices.record(name, write.op, write.bytes);
        if (!batch.measured) {
          published.add(name);
          continue;
        }
        const item = pending.get(name);
        if (item === undefined) {
          pending.set(name, { firstChangeMs: batch.atMs, op: write.op, bytes: write.bytes });
          queue.push(name);
        } else {
          item.op = write.op === "create" && published.has(name) ? "update" : write.op;
          item.bytes = write.bytes;
        }
      }
    },
    finish() {
      drain(Number.POSITIVE_INFINITY);
      fanout.finish(snapshot);
    },
  };
}
