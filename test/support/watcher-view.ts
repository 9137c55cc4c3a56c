/**
 * A watcher's copy of the objects it watches, kept the way a node agent keeps it: a list first
 * (seed), then its queue's messages applied as they come. A message is either a single change (a
 * whole object) or a delta bundle (shared/fanout/change-bundle.ts), told apart by the bundle
 * marker. Delivery is unordered and at least once, so a patch may arrive before its base: it
 * waits and is applied once the base is there (a patch whose base never comes is a lost message
 * and leaves the copy wrong). The base is a version, or for a zone view's patch the zone view's
 * content digest; applyBundledChange tells them apart. A change sent as a reference (too large for
 * a message) is re-read from the API, as agents do.
 */

import { compareResourceVersions } from "#shared/core/object-versions.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange, ChangeBundle } from "#shared/fanout/change-bundle.ts";
import type { ChangeMessage } from "#shared/fanout/change-routing.ts";
import { applyBundledChange } from "#shared/fanout/slice-delta.ts";

/** What `accept` sees of a change, whichever format carried it. */
export interface ChangeHeader {
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name: string;
}

interface Held {
  readonly object: OutputObject | undefined;
  /** The version held, or the version it was deleted at (a tombstone). */
  readonly resourceVersion: string;
}

export class WatcherView {
  readonly #held = new Map<string, Held>();
  readonly #waiting: BundledChange[] = [];
  readonly #reread: (change: ChangeHeader) => Promise<OutputObject | undefined>;

  constructor(reread: (change: ChangeHeader) => Promise<OutputObject | undefined>) {
    this.#reread = reread;
  }

  seed(
    objects: readonly { metadata: { name: string; namespace?: string; resourceVersion?: string } }[],
  ): void {
    for (const object of objects)
      this.#held.set(keyOf(namespaceOf(object as unknown as OutputObject), object.metadata.name), {
        object: object as unknown as OutputObject,
        resourceVersion: object.metadata.resourceVersion ?? "0",
      });
  }

  /** Applies one queue message; returns how many of its changes `accept` took. */
  async applyBody(body: string, accept: (change: ChangeHeader) => boolean): Promise<number> {
    const parsed = JSON.parse(body) as ChangeMessage | ChangeBundle;
    let accepted = 0;
    if ("bundle" in parsed) {
      for (const change of parsed.changes) {
        if (!accept(change)) continue;
        accepted++;
        if (change.reference === true) {
          const object = await this.#reread(change);
          this.#held.set(keyOf(change.namespace, change.name), {
            object,
            resourceVersion: change.resourceVersion,
          });
        } else this.#waiting.push(change);
      }
      this.#applyWaiting();
      return accepted;
    }
    const object = parsed.object as OutputObject;
    const header = { kind: parsed.kind, namespace: namespaceOf(object), name: object.metadata.name };
    if (!accept(header)) return 0;
    const key = keyOf(header.namespace, header.name);
    const known = this.#held.get(key);
    const order =
      known === undefined ? 1 : compareResourceVersions(parsed.resourceVersion, known.resourceVersion);
    // A deletion leaves a tombstone at its version; a whole object replaces only an older one.
    if (parsed.type === "DELETED" ? order >= 0 : order > 0)
      this.#held.set(key, {
        object: parsed.type === "DELETED" ? undefined : object,
        resourceVersion: parsed.resourceVersion,
      });
    return 1;
  }

  /** Patches still waiting for their base. */
  get waiting(): readonly BundledChange[] {
    return this.#waiting;
  }

  objects(): OutputObject[] {
    return [...this.#held.values()].flatMap((held) => (held.object === undefined ? [] : [held.object]));
  }

  #applyWaiting(): void {
    for (let progress = true; progress; ) {
      progress = false;
      for (let i = 0; i < this.#waiting.length; i++) {
        const change = this.#waiting[i] as BundledChange;
        const key = keyOf(change.namespace, change.name);
        const held = this.#held.get(key);
        const tombstone = held !== undefined && held.object === undefined;
        const result = applyBundledChange(
          held?.object,
          change,
          tombstone ? { deletedAt: held.resourceVersion } : {},
        );
        if (result.outcome === "gap") continue;
        if (result.outcome === "applied")
          this.#held.set(key, { object: result.object, resourceVersion: change.resourceVersion });
        this.#waiting.splice(i--, 1);
        progress = true;
      }
    }
  }
}

function namespaceOf(object: OutputObject): string | undefined {
  const withNamespace = object as { metadata: { namespace?: string }; namespace?: string };
  return withNamespace.metadata.namespace ?? withNamespace.namespace;
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}
