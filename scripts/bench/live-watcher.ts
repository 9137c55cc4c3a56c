/**
 * What the live pass needs of a watcher agent: the fleet's part plus its counters, latencies and a
 * digest to compare with the truth. `agent-member.ts` adapts the watcher library to it.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { LatencyRecorder } from "#shared/watcher/latency-recorder.ts";
import type { AppliedTiming } from "#shared/watcher/watcher-agent.ts";
import type { FleetMember } from "./fleet.ts";

export interface LiveWatcher extends FleetMember {
  /** Messages received and their bytes since the last resetCounters() (latencies: the factory's recorder). */
  readonly received: { readonly messages: number; readonly bytes: number };
  /** Objects and bytes read from the API (re-lists, gap and reference GETs) since the last resetCounters(). */
  readonly read: { readonly objects: number; readonly bytes: number };
  resetCounters(): void;
  /** A canonical digest of the watcher's IPCache and Service backends. */
  digest(): string;
  readonly gapsRefetched: number;
}

export interface WatcherFactoryInput {
  readonly api: string;
  readonly sqs: SQSClient;
  readonly node: string;
  readonly zone: string;
  readonly zoneOnly: boolean;
  /** Where the watcher records source-event-to-applied latencies (shared by a worker's agents). */
  readonly latency: LatencyRecorder;
  /** Each applied change's times, for the attribution of latency (the watcher asks SQS for SentTimestamp). */
  readonly onApplied?: (timing: AppliedTiming) => void;
  /**
   * Delete received messages in batches every this many ms, as the node agent with a state
   * directory does (deferDeletes, flushed each snapshot interval); default: after every receive.
   */
  readonly deleteIntervalMs?: number;
}
