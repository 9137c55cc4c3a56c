/**
 * Custom metric names, one list for the handlers that emit them (Powertools EMF) and the stack's
 * alarms and dashboard that read them, so a renamed metric cannot silently leave an alarm blind.
 */
export const METRICS_NAMESPACE = "Sliceline";

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
  apiRequests: "ApiRequests",
  apiLatency: "ApiLatency",
  /** Watcher registrations the sweep removed (with their queues) because they went silent. */
  watchersExpired: "WatchersExpired",
  /** Entries the fan-out appended to the change log the Kubernetes watch reads (docs/watch.md). */
  changeLogEntries: "ChangeLogEntries",
} as const;
