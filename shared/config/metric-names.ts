/**
 * Custom metric names, one list for the handlers that emit them (Powertools EMF) and the stack's
 * alarms and dashboard that read them, so a renamed metric cannot silently leave an alarm blind.
 */
export const METRICS_NAMESPACE = "Sliceline";

/**
 * The bridge's own metrics (Prometheus names on its /metrics endpoint and keys of its periodic
 * log line): counters end in _total, the rest are gauges.
 */
export const BRIDGE_METRIC = {
  eventsSeen: "sliceline_bridge_events_seen_total",
  eventsCoalesced: "sliceline_bridge_events_coalesced_total",
  eventsRefused: "sliceline_bridge_events_refused_total",
  eventsSent: "sliceline_bridge_events_sent_total",
  eventsFailed: "sliceline_bridge_events_failed_total",
  syncChunksSent: "sliceline_bridge_sync_chunks_sent_total",
  bookmarks: "sliceline_bridge_bookmarks_total",
  relists: "sliceline_bridge_relists_total",
  watchErrors: "sliceline_bridge_watch_errors_total",
  sqsBatches: "sliceline_bridge_sqs_batches_total",
  sqsMessages: "sliceline_bridge_sqs_messages_total",
  sqsRetries: "sliceline_bridge_sqs_retries_total",
  queueEvents: "sliceline_bridge_queue_events",
  queueBytes: "sliceline_bridge_queue_bytes",
  queueLagSeconds: "sliceline_bridge_queue_lag_seconds",
  sendLagSeconds: "sliceline_bridge_send_lag_seconds",
} as const;

export const METRIC = {
  messagesIn: "MessagesIn",
  eventsIn: "EventsIn",
  eventsRejected: "EventsRejected",
  eventsStale: "EventsStale",
  eventsUnchanged: "EventsUnchanged",
  sliceWrites: "SliceWrites",
  groupConflictRetries: "GroupConflictRetries",
  ingestLatency: "IngestLatency",
  /** Messages handed back to SQS as batch item failures (caught, so Lambda's Errors stays 0). */
  ingestMessagesFailed: "IngestMessagesFailed",
  /** Events sent to the DLQ because applying their namespace group failed deterministically. */
  eventsDeadLettered: "EventsDeadLettered",
  identitiesInUse: "IdentitiesInUse",
  identityRangeUsedPercent: "IdentityRangeUsedPercent",
  messagesPublished: "MessagesPublished",
  bytesPublished: "BytesPublished",
  deliveries: "Deliveries",
  bytesDelivered: "BytesDelivered",
  propagationLatency: "PropagationLatency",
  /** Changes the fan-out's bundles carried (a change counts once per scope it went to). */
  changesBundled: "ChangesBundled",
  apiRequests: "ApiRequests",
  apiLatency: "ApiLatency",
  /** Watcher registrations the sweep removed (with their queues) because they went silent. */
  watchersExpired: "WatchersExpired",
  /** On each node acknowledgement: how far its applied watermark is behind the API's clock (ms). */
  watcherAppliedLag: "WatcherAppliedLag",
  /** Entries the fan-out appended to the change log the Kubernetes watch reads (docs/watch.md). */
  changeLogEntries: "ChangeLogEntries",
} as const;
