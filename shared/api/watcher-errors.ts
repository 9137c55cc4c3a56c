/**
 * What a watcher registry's refusals answer (docs/aws.md "Watcher authorization"): each a
 * Kubernetes Status the caller can act on, never a 500.
 *   WatcherOwnedElsewhereError   409 Conflict       another principal holds the node
 *   WatcherCapExceededError      429 TooManyRequests the caller's cap of live registrations is reached
 *   WatcherBusyError             429 TooManyRequests + Retry-After (queue deleted < 60 s ago, or a
 *                                                    concurrent change or removal of the registration)
 *   WatcherChannelConflictError  409 Conflict       a queue of the channel's name has other attributes
 */
import { StatusError } from "./status.ts";
import {
  WatcherBusyError,
  WatcherCapExceededError,
  WatcherChannelConflictError,
  WatcherOwnedElsewhereError,
} from "./watcher-registry.ts";

/** Runs a watcher route, turning the registry's refusals into their Status. */
export async function watcherErrorStatus<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asStatusError(error);
  }
}

function asStatusError(error: unknown): unknown {
  const details = { kind: "watchers" };
  if (error instanceof WatcherOwnedElsewhereError || error instanceof WatcherChannelConflictError)
    return new StatusError("Conflict", error.message, details);
  if (error instanceof WatcherCapExceededError)
    return new StatusError("TooManyRequests", error.message, details);
  if (error instanceof WatcherBusyError)
    return new StatusError("TooManyRequests", error.message, {
      ...details,
      retryAfterSeconds: error.retryAfterSeconds,
    });
  return error;
}
