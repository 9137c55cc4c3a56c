/**
 * The fan-out port: deliver routed change messages to every watcher subscribed to their scope.
 * In AWS one SNS topic per scope, each watcher an SQS queue subscribed with raw delivery.
 */
import type { ChangeMessage, RoutedMessage } from "./change-routing.ts";

export interface ChangePublisher {
  /** Publishes all, or throws; a retry may publish some twice (watchers apply by resourceVersion). */
  publish(messages: readonly RoutedMessage[]): Promise<{ published: number; bytes: number }>;
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
