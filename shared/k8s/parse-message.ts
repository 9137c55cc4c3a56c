/**
 * Turns one SQS message body into validated watch events and precise rejections.
 *
 * A body is one event or `{"events": [...]}` (producer-side batching). A bad event in a batch is
 * rejected alone, so one poison event never costs its neighbours; a body that is not JSON at all
 * is rejected whole.
 */
import {
  type InputEvent,
  isSyncEvent,
  type SyncEvent,
  syncEventSchema,
  type WatchEvent,
  watchEventSchema,
} from "./watch-event-schema.ts";

export const KNOWN_KINDS = ["Pod", "Service", "Namespace", "Node"] as const;

/** SQS accepts bodies up to 1 MiB; one Kubernetes object above this is almost surely not a real one. */
export const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;

export interface RejectedEvent {
  /** Human-readable and precise: which field, what was wrong. */
  readonly reason: string;
  /** The offending event as received (or the raw body when it could not be parsed). */
  readonly raw: unknown;
  /** Position in a producer batch; undefined for a single-event body. */
  readonly index: number | undefined;
}

/** A valid event with where it was in the body and what it was before the schema stripped it. */
export interface AcceptedEvent {
  readonly event: InputEvent;
  /** The event as received, to dead-letter it whole if applying it fails for good. */
  readonly raw: unknown;
  /** Position in a producer batch; undefined for a single-event body. */
  readonly index: number | undefined;
}

export interface ParsedMessage {
  /** The change events (ADDED, MODIFIED, DELETED). */
  readonly events: WatchEvent[];
  /** The resync events (the SYNC extension, docs/input-events.md). */
  readonly syncs: SyncEvent[];
  /** Every valid event (changes and resyncs), in body order, with its origin. */
  readonly accepted: AcceptedEvent[];
  readonly rejected: RejectedEvent[];
  /** BOOKMARK events: valid watch traffic that carries no change. */
  readonly ignored: number;
}

export interface ParseOptions {
  readonly maxEventBytes?: number;
}

export function parseMessageBody(body: string, options: ParseOptions = {}): ParsedMessage {
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  let decoded: unknown;
  try {
    decoded = JSON.parse(body);
  } catch (error) {
    return {
      events: [],
      syncs: [],
      accepted: [],
      rejected: [{ reason: `invalid JSON: ${(error as Error).message}`, raw: body, index: undefined }],
      ignored: 0,
    };
  }
  const batch =
    isRecord(decoded) && "events" in decoded && !("object" in decoded) ? decoded.events : undefined;
  const isBatch = batch !== undefined;
  if (isBatch && !Array.isArray(batch)) {
    return {
      events: [],
      syncs: [],
      accepted: [],
      rejected: [{ reason: "events: must be an array of watch events", raw: decoded, index: undefined }],
      ignored: 0,
    };
  }
  const candidates: unknown[] = isBatch ? (batch as unknown[]) : [decoded];
  const events: WatchEvent[] = [];
  const syncs: SyncEvent[] = [];
  const accepted: AcceptedEvent[] = [];
  const rejected: RejectedEvent[] = [];
  let ignored = 0;
  candidates.forEach((candidate, position) => {
    const index = isBatch ? position : undefined;
    const outcome = parseWatchEvent(candidate, maxEventBytes, isBatch ? undefined : body.length);
    if (outcome.kind === "event") {
      if (isSyncEvent(outcome.event)) syncs.push(outcome.event);
      else events.push(outcome.event);
      accepted.push({ event: outcome.event, raw: candidate, index });
    } else if (outcome.kind === "ignored") ignored++;
    else rejected.push({ reason: outcome.reason, raw: candidate, index });
  });
  return { events, syncs, accepted, rejected, ignored };
}

type EventOutcome =
  | { kind: "event"; event: InputEvent }
  | { kind: "ignored" }
  | { kind: "rejected"; reason: string };

export function parseWatchEvent(candidate: unknown, maxEventBytes: number, knownSize?: number): EventOutcome {
  const size = knownSize ?? Buffer.byteLength(JSON.stringify(candidate) ?? "");
  if (size > maxEventBytes) {
    return {
      kind: "rejected",
      reason: `oversized: event is ${size} bytes, over the ${maxEventBytes}-byte limit`,
    };
  }
  if (!isRecord(candidate)) return { kind: "rejected", reason: "event: must be a JSON object" };
  if (candidate.type === "BOOKMARK") return { kind: "ignored" };
  if (candidate.type === "ERROR") {
    const message = isRecord(candidate.object) ? candidate.object.message : undefined;
    return { kind: "rejected", reason: `watch ERROR event: ${String(message ?? "no message")}` };
  }
  if (candidate.type === "SYNC") {
    const sync = syncEventSchema.safeParse(candidate);
    if (!sync.success) return { kind: "rejected", reason: `SYNC ${describeIssues(sync.error.issues)}` };
    return { kind: "event", event: sync.data };
  }
  const kind = isRecord(candidate.object) ? candidate.object.kind : undefined;
  if (typeof kind === "string" && !(KNOWN_KINDS as readonly string[]).includes(kind)) {
    return {
      kind: "rejected",
      reason: `object.kind: unknown kind "${kind}" (want ${KNOWN_KINDS.join(", ")})`,
    };
  }
  const result = watchEventSchema.safeParse(candidate);
  if (!result.success) return { kind: "rejected", reason: describeIssues(result.error.issues) };
  return { kind: "event", event: result.data };
}

interface Issue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

function describeIssues(issues: readonly Issue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join(".") : "event"}: ${issue.message}`)
    .join("; ");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
