/** Parsing the SYNC input event (docs/input-events.md): strict, with precise reasons. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

const valid = {
  type: "SYNC",
  kind: "Pod",
  namespace: "web",
  resourceVersion: "120",
  names: ["a-1", "b-2"],
  range: { from: "a", to: "m" },
};

function reasonOf(event: unknown): string {
  const parsed = parseMessageBody(JSON.stringify({ events: [event] }));
  assert.equal(parsed.accepted.length, 0, `accepted ${JSON.stringify(event)}`);
  return parsed.rejected[0]?.reason ?? "";
}

describe("SYNC events", () => {
  it("are accepted next to changes, kept apart from them", () => {
    const parsed = parseMessageBody(JSON.stringify({ events: [valid, { type: "BOOKMARK", object: {} }] }));
    assert.deepEqual(parsed.rejected, []);
    assert.equal(parsed.syncs.length, 1);
    assert.equal(parsed.events.length, 0);
    assert.equal(parsed.accepted[0]?.event.type, "SYNC");
  });

  it("default to the whole name space without a range, and cluster-scoped kinds take no namespace", () => {
    const parsed = parseMessageBody(
      JSON.stringify({ type: "SYNC", kind: "Node", resourceVersion: "7", names: ["n1"] }),
    );
    assert.deepEqual(parsed.syncs[0]?.range, { from: "" });
  });

  it("are rejected with the reason when malformed", () => {
    assert.match(reasonOf({ ...valid, namespace: undefined }), /namespace: is required for Pod/);
    assert.match(reasonOf({ ...valid, kind: "Node" }), /namespace: must be absent: Node is cluster-scoped/);
    assert.match(reasonOf({ ...valid, names: ["b-2", "a-1"] }), /names.1: names must be sorted and unique/);
    assert.match(reasonOf({ ...valid, names: ["a-1", "a-1"] }), /sorted and unique/);
    assert.match(reasonOf({ ...valid, names: ["zed"] }), /"zed" is outside the range/);
    assert.match(reasonOf({ ...valid, range: { from: "m", to: "a" } }), /from must sort before to/);
    assert.match(reasonOf({ ...valid, resourceVersion: "abc" }), /resourceVersion: must be a decimal/);
    assert.match(reasonOf({ ...valid, kind: "Deployment" }), /^SYNC kind/);
    assert.match(reasonOf({ ...valid, names: ["Upper"] }), /DNS-1123/);
    assert.match(reasonOf({ ...valid, extra: 1 }), /Unrecognized key/);
  });
});
