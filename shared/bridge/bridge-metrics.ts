/**
 * The bridge's counters and gauges, rendered as Prometheus text for /metrics and as one object
 * for the periodic JSON log line.
 */
import { BRIDGE_METRIC } from "#shared/config/metric-names.ts";

type CounterName = Exclude<
  keyof typeof BRIDGE_METRIC,
  "queueEvents" | "queueBytes" | "queueLagSeconds" | "sendLagSeconds"
>;

const HELP: Record<keyof typeof BRIDGE_METRIC, string> = {
  eventsSeen: "Watch and list events received from the cluster",
  eventsCoalesced: "Events that replaced a queued older event of the same object",
  eventsRefused: "Events refused by the full queue (their kind is re-listed)",
  eventsSent: "Events (changes and SYNC chunks) accepted by SQS",
  eventsFailed: "Events SQS refused for good (oversized or malformed), dropped",
  syncChunksSent: "SYNC chunks accepted by SQS",
  bookmarks: "BOOKMARK events received",
  relists: "Completed lists (start, 410 Gone, overflow, periodic resync)",
  watchErrors: "List or watch errors (retried)",
  sqsBatches: "SendMessageBatch calls that succeeded",
  sqsMessages: "SQS messages sent",
  sqsRetries: "SendMessageBatch calls or entries retried after an error",
  queueEvents: "Events waiting to be sent",
  queueBytes: "Bytes of events waiting to be sent",
  queueLagSeconds: "Age of the oldest event waiting to be sent",
  sendLagSeconds: "Source-to-SQS delay of the last batch sent",
};

export interface BridgeGauges {
  readonly queueEvents: number;
  readonly queueBytes: number;
  readonly queueLagSeconds: number;
  readonly sendLagSeconds: number;
}

export class BridgeMetrics {
  readonly counters: Record<CounterName, number> = {
    eventsSeen: 0,
    eventsCoalesced: 0,
    eventsRefused: 0,
    eventsSent: 0,
    eventsFailed: 0,
    syncChunksSent: 0,
    bookmarks: 0,
    relists: 0,
    watchErrors: 0,
    sqsBatches: 0,
    sqsMessages: 0,
    sqsRetries: 0,
  };

  add(name: CounterName, by = 1): void {
    this.counters[name] += by;
  }

  snapshot(gauges: BridgeGauges): Record<string, number> {
    return { ...this.counters, ...gauges };
  }

  prometheus(gauges: BridgeGauges): string {
    const lines: string[] = [];
    const values: Record<string, number> = this.snapshot(gauges);
    for (const [key, name] of Object.entries(BRIDGE_METRIC) as Array<[keyof typeof BRIDGE_METRIC, string]>) {
      lines.push(`# HELP ${name} ${HELP[key]}`);
      lines.push(`# TYPE ${name} ${name.endsWith("_total") ? "counter" : "gauge"}`);
      lines.push(`${name} ${values[key] ?? 0}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
