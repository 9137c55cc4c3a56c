import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CiliumEndpointSlice, CoreCiliumEndpoint } from "#shared/core/model.ts";
import {
  bundleMessages,
  coalesceChanges,
  parseBundle,
  type RecordChange,
} from "#shared/fanout/bundle-publisher.ts";
import { MAX_MESSAGE_BYTES } from "#shared/fanout/change-publisher.ts";
import { applyBundledChange } from "#shared/fanout/slice-delta.ts";

function entry(index: number, id = 1000): CoreCiliumEndpoint {
  return {
    name: `pod-${index}`,
    id,
    networking: { addressing: [{ ipv4: `10.0.${index >> 8}.${index & 255}` }] },
  };
}

function ces(name: string, rv: string, entries: CoreCiliumEndpoint[]): CiliumEndpointSlice {
  return {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: { name, resourceVersion: rv },
    namespace: "shop",
    endpoints: entries,
  };
}

const SCOPES = new Set(["Cilium", "EndpointSlice"]);

function recordChange(
  record: number,
  before: CiliumEndpointSlice | undefined,
  after: CiliumEndpointSlice | undefined,
): RecordChange {
  return { record, change: { kind: "CiliumEndpointSlice", before, after, sourceTimeMs: 100 + record } };
}

describe("delivery bundles", () => {
  it("merges one object's consecutive changes into one, but not across its deletion", () => {
    const v1 = ces("a", "1", [entry(1)]);
    const v2 = ces("a", "2", [entry(1), entry(2)]);
    const v3 = ces("a", "3", [entry(2)]);
    const other = ces("b", "7", [entry(9)]);
    const merged = coalesceChanges([
      recordChange(0, v1, v2),
      recordChange(1, undefined, other),
      recordChange(2, v2, v3),
      recordChange(3, v3, undefined),
      recordChange(4, undefined, v1),
      recordChange(5, undefined, ces("c", "1", [])),
      recordChange(6, ces("c", "1", []), undefined),
    ]);
    assert.deepEqual(
      merged.map(({ record, change }) => [
        record,
        change.before?.metadata.resourceVersion,
        change.after?.metadata.resourceVersion,
        change.sourceTimeMs,
      ]),
      [
        [0, "1", undefined, 100],
        [1, undefined, "7", 101],
        [4, undefined, "1", 104],
      ],
    );
  });

  it("cuts a scope's bundle into messages under the size limit, in order, with their first record", () => {
    const changes: RecordChange[] = [];
    for (let i = 0; i < 40; i++) {
      const entries = Array.from({ length: 50 }, (_, k) => entry(i * 50 + k));
      changes.push(recordChange(i, undefined, ces(`s-${i}`, String(i + 1), entries)));
    }
    const maxBytes = 20_000;
    const messages = bundleMessages(changes, [], SCOPES, maxBytes);
    assert.ok(messages.length > 1);
    const replayed: string[] = [];
    for (const message of messages) {
      assert.ok(Buffer.byteLength(message.body) <= maxBytes);
      const bundle = parseBundle(message.body);
      assert.ok(bundle !== undefined);
      assert.equal(bundle.scope, "Cilium");
      assert.equal(message.firstRecord, Number(bundle.changes[0]?.resourceVersion) - 1);
      assert.equal(message.changes, bundle.changes.length);
      replayed.push(...bundle.changes.map((c) => c.name));
    }
    assert.deepEqual(
      replayed,
      changes.map((c) => c.change.after?.metadata.name),
    );
  });

  it("sends a change too big for any message as a reference the watcher resolves by re-reading", () => {
    const entries = Array.from({ length: 5000 }, (_, k) => entry(k, 1_000_000 + k));
    const big = ces("big", "5", entries);
    assert.ok(Buffer.byteLength(JSON.stringify(big)) > MAX_MESSAGE_BYTES);
    const [message, ...rest] = bundleMessages(
      [recordChange(3, undefined, big), recordChange(4, undefined, ces("small", "6", []))],
      [],
      SCOPES,
    );
    assert.equal(rest.length, 0);
    const bundle = parseBundle(message?.body ?? "");
    assert.deepEqual(
      bundle?.changes.map((c) => [c.name, c.reference, c.object === undefined]),
      [
        ["big", true, true],
        ["small", undefined, false],
      ],
    );
    assert.deepEqual(applyBundledChange(undefined, bundle?.changes[0] as never), {
      outcome: "gap",
      reason: "reference",
    });
  });

  it("skips scopes without a topic", () => {
    assert.deepEqual(
      bundleMessages([recordChange(0, undefined, ces("a", "1", []))], [], new Set(["EndpointSlice"])),
      [],
    );
  });
});
