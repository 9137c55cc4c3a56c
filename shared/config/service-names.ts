/**
 * Powertools service names of the functions: the stack sets each as POWERTOOLS_SERVICE_NAME and
 * reads it as the `service` dimension of alarms and dashboards, the handler names its Logger,
 * Metrics and Tracer with it. One spelling, so a dimension cannot drift from what is emitted.
 */
export const SERVICE_NAMES = {
  ingest: "sliceline-ingest",
  fanout: "sliceline-fanout",
  api: "sliceline-api",
  /** The API's code behind the streaming function URL (docs/watch.md). */
  apiWatch: "sliceline-api-watch",
  watcherSweeper: "sliceline-watcher-sweeper",
} as const;

export type ServiceName = (typeof SERVICE_NAMES)[keyof typeof SERVICE_NAMES];
