/**
 * The fan-out port: deliver message bodies to every watcher subscribed to their scope. In AWS one
 * SNS topic per scope, each watcher an SQS queue subscribed with raw delivery. Bodies are either
 * delivery bundles (change-bundle.ts) or single change messages (`publishMessages` below): both go
 * out through the one method, so there is one publishing path to get right.
 */
import type { ChangeMessage, RoutedMessage } from "./change-routing.ts";

/** A prepared body and the scope (topic) it goes to. */
export interface ScopedBody {
  readonly scope: string;
  readonly body: string;
}

/** What publishing a set of bodies achieved: totals of what went out, and what did not. */
export interface BodiesPublished {
  readonly published: number;
  readonly bytes: number;
  /** Per topic (ARN or the adapter's name for it): what went out there. */
  readonly byTopic: Map<string, { published: number; bytes: number }>;
  /** Indexes (into the input) of bodies not published: rejected entries, or calls that threw. */
  readonly failed: number[];
  readonly errors: string[];
}

export interface ChangePublisher {
  /**
   * Every body to its scope's topic (a scope without one has no subscribers: skipped). Does not stop
   * at the first failure: every body is attempted and the caller learns which did not go out, so a
   * stream batch can be failed from the earliest record an unpublished body carries. A retry may
   * publish some twice (watchers apply by resourceVersion).
   */
  publishBodies(bodies: readonly ScopedBody[]): Promise<BodiesPublished>;
}

export class PublishFailedError extends Error {
  override name = "PublishFailedError";
}

/** Single change messages, each as its own body; all published, or PublishFailedError. */
export async function publishMessages(
  publisher: ChangePublisher,
  messages: readonly RoutedMessage[],
): Promise<BodiesPublished> {
  const result = await publisher.publishBodies(
    messages.map(({ scope, message }) => ({ scope, body: messageBody(message) })),
  );
  if (result.failed.length > 0)
    throw new PublishFailedError(
      `${result.failed.length} of ${messages.length} messages not published: ${result.errors.join("; ")}`,
    );
  return result;
}

/** SNS and SQS carry at most 256 KiB per message. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * The message body, or for an object too big to travel whole, a reference the watcher resolves by
 * reading the object from the API (same kind, name and resourceVersion).
 */
export function messageBody(message: ChangeMessage): string {
  const body = JSON.stringify(message);
  if (Buffer.byteLength(body) <= MAX_MESSAGE_BYTES) return body;
  const { metadata } = message.object;
  return JSON.stringify({
    type: message.type,
    kind: message.kind,
    resourceVersion: message.resourceVersion,
    sourceTimeMs: message.sourceTimeMs,
    ...(message.zone === undefined ? {} : { zone: message.zone }),
    reference: { name: metadata.name, namespace: metadata.namespace },
  });
}
