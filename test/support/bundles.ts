/**
 * The bundle a message body holds, unchecked, for tests that look at the envelope (the product's
 * one parser of message bodies is the watcher's changesOfBody, shared/watcher/change-body.ts).
 */
import type { ChangeBundle } from "#shared/fanout/change-bundle.ts";

export function parseBundle(body: string): ChangeBundle | undefined {
  const parsed = JSON.parse(body) as Partial<ChangeBundle>;
  return parsed.bundle === 1 && Array.isArray(parsed.changes) ? (parsed as ChangeBundle) : undefined;
}
