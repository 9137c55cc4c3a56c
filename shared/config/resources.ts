/**
 * Names shared by the CDK app (which creates resources and sets these variables) and the handlers
 * and adapters (which read them). One place, so the two sides cannot drift apart.
 *
 * Endpoints are never configured here: the AWS SDK takes them from AWS_ENDPOINT_URL and
 * AWS_ENDPOINT_URL_<SERVICE>, so the same code runs against AWS, LocalStack or the embedded stack.
 */

/** Environment variables that name resources, set by the construct that also grants access. */
export const ENV = {
  /** Object state: namespace groups (pods, Services, Namespace), nodes; tombstones expire by TTL. */
  stateTable: "SLICELINE_STATE_TABLE",
  /** Output objects: EndpointSlices, CiliumEndpointSlices, CiliumIdentities; its stream drives fan-out. */
  slicesTable: "SLICELINE_SLICES_TABLE",
  /** Identity allocation: id -> label set and label set -> id, refcounts. */
  identitiesTable: "SLICELINE_IDENTITIES_TABLE",
  /** Registered watchers and their channels. */
  watchersTable: "SLICELINE_WATCHERS_TABLE",
  /** Where the ingest function sends poison events, with their reason. */
  deadLetterQueueUrl: "SLICELINE_DEAD_LETTER_QUEUE_URL",
  /** JSON object: fan-out topic ARN per scope (EndpointSlice, EndpointSlice@<zone>, Cilium). */
  changeTopicArns: "SLICELINE_CHANGE_TOPIC_ARNS",
  /** Name prefix of watcher channel queues (the API creates and deletes them at run time). */
  watcherQueuePrefix: "SLICELINE_WATCHER_QUEUE_PREFIX",
  /** JSON WatcherAuthorizationPolicy: which IAM principal may act on which node's watcher, the cap. */
  watcherAuthorization: "SLICELINE_WATCHER_AUTHORIZATION",
  /** Seconds a watcher registration lives without a refresh before the sweep removes it. */
  watcherTtlSeconds: "SLICELINE_WATCHER_TTL_SECONDS",
  /** JSON object of SlicingSettings overrides (maxEndpointsPerSlice, maxEndpointsPerCES, ...). */
  slicingSettings: "SLICELINE_SLICING_SETTINGS",
  /** Slice writes per second allowed, before scaling by watcher count (the seed's dynamic rate limit). */
  writeBudget: "SLICELINE_WRITE_BUDGET",
  /**
   * The API's continue-token HMAC key: the ARN of the Secrets Manager secret the stack generates
   * (read once per cold start), or, for local runs and tests, the key itself (next variable).
   */
  continueTokenKeySecret: "SLICELINE_CONTINUE_TOKEN_KEY_SECRET",
  /** The continue-token key as a string of at least 32 characters (local runner, tests). */
  continueTokenKey: "SLICELINE_CONTINUE_TOKEN_KEY",
  /** How the fan-out delivers: "bundles" (one delta bundle per scope and batch) or "objects" (one message per change). */
  fanoutFormat: "SLICELINE_FANOUT_FORMAT",
} as const;

/**
 * The bridge's settings as environment variables (its container-friendly form; each has a flag
 * of the same meaning, see scripts/bridge.ts).
 */
export const BRIDGE_ENV = {
  kubeconfig: "SLICELINE_BRIDGE_KUBECONFIG",
  context: "SLICELINE_BRIDGE_CONTEXT",
  target: "SLICELINE_BRIDGE_TARGET",
  stack: "SLICELINE_BRIDGE_STACK",
  ingestQueueUrl: "SLICELINE_BRIDGE_INGEST_QUEUE_URL",
  priorityQueueUrl: "SLICELINE_BRIDGE_PRIORITY_QUEUE_URL",
  priorityNamespaces: "SLICELINE_BRIDGE_PRIORITY_NAMESPACES",
  metricsPort: "SLICELINE_BRIDGE_METRICS_PORT",
  logIntervalSeconds: "SLICELINE_BRIDGE_LOG_INTERVAL_SECONDS",
  maxQueueEvents: "SLICELINE_BRIDGE_MAX_QUEUE_EVENTS",
  maxQueueBytes: "SLICELINE_BRIDGE_MAX_QUEUE_BYTES",
  senders: "SLICELINE_BRIDGE_SENDERS",
  resyncIntervalSeconds: "SLICELINE_BRIDGE_RESYNC_INTERVAL_SECONDS",
  drainTimeoutSeconds: "SLICELINE_BRIDGE_DRAIN_TIMEOUT_SECONDS",
} as const;

/** The fan-out's delivery formats (shared/fanout/change-bundle.ts; change-routing.ts ChangeMessage). */
export const FANOUT_FORMATS = ["bundles", "objects"] as const;
export type FanoutFormat = (typeof FANOUT_FORMATS)[number];

/** Key attributes of every sliceline table (single-table style per concern). */
export const TABLE_KEYS = {
  partitionKey: "pk",
  sortKey: "sk",
  /** Epoch seconds; DynamoDB TTL deletes tombstones after it (the local runner sweeps them itself). */
  timeToLive: "expiresAt",
} as const;

/** Logical ids in the CDK app; the local runner finds resources in the template by these. */
export const LOGICAL_IDS = {
  ingestQueue: "IngestQueue",
  priorityIngestQueue: "PriorityIngestQueue",
  deadLetterQueue: "IngestDeadLetterQueue",
  fanoutFailureQueue: "FanoutFailureQueue",
  stateTable: "StateTable",
  slicesTable: "SlicesTable",
  identitiesTable: "IdentitiesTable",
  watchersTable: "WatchersTable",
  ingestFunction: "IngestFunction",
  fanoutFunction: "FanoutFunction",
  apiFunction: "ApiFunction",
  /** The API's code behind a function URL with response streaming: streaming watches. */
  apiWatchFunction: "ApiWatchFunction",
  /** That function's URL (AWS::Lambda::Url, IAM auth, RESPONSE_STREAM). */
  watchFunctionUrl: "WatchFunctionUrl",
  httpApi: "HttpApi",
  /** The EventBridge rule that has the API function sweep expired watchers. */
  watcherSweepSchedule: "WatcherSweepSchedule",
} as const;

/** Namespaces whose events skip the batching window (system-critical), besides configured ones. */
export const DEFAULT_PRIORITY_NAMESPACES = ["kube-system"] as const;
