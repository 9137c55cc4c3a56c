import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { nodeObject, podObject, watchEvent } from "#test/support/k8s-objects.ts";

const pod = podObject({
  namespace: "shop",
  name: "web-1",
  resourceVersion: 10,
  podIP: "10.0.0.1",
  ready: true,
});

describe("parseMessageBody", () => {
  it("accepts one watch event", () => {
    const parsed = parseMessageBody(JSON.stringify(watchEvent("ADDED", pod)));
    assert.equal(parsed.rejected.length, 0);
    assert.equal(parsed.events.length, 1);
    assert.equal(parsed.events[0]?.object.kind, "Pod");
  });

  it("accepts a producer batch and rejects only its bad events, with their positions", () => {
    const bad = {
      type: "ADDED",
      object: { kind: "Pod", metadata: { namespace: "shop", resourceVersion: "1" } },
    };
    const body = JSON.stringify({ events: [watchEvent("ADDED", pod), bad, watchEvent("DELETED", pod)] });
    const parsed = parseMessageBody(body);
    assert.equal(parsed.events.length, 2);
    assert.equal(parsed.rejected.length, 1);
    assert.equal(parsed.rejected[0]?.index, 1);
    assert.match(parsed.rejected[0]?.reason ?? "", /object\.metadata\.name/);
  });

  it("rejects bad JSON whole, with the parser's reason", () => {
    const parsed = parseMessageBody("{not json");
    assert.equal(parsed.events.length, 0);
    assert.match(parsed.rejected[0]?.reason ?? "", /^invalid JSON/);
  });

  it("names an unknown kind", () => {
    const parsed = parseMessageBody(
      JSON.stringify(watchEvent("ADDED", { kind: "Deployment", metadata: {} })),
    );
    assert.match(parsed.rejected[0]?.reason ?? "", /unknown kind "Deployment"/);
  });

  it("rejects a non-numeric resourceVersion", () => {
    const event = watchEvent("MODIFIED", {
      ...pod,
      metadata: { ...(pod.metadata as object), resourceVersion: "abc" },
    });
    const parsed = parseMessageBody(JSON.stringify(event));
    assert.match(
      parsed.rejected[0]?.reason ?? "",
      /object\.metadata\.resourceVersion: must be a decimal integer string/,
    );
  });

  it("rejects a missing resourceVersion", () => {
    const metadata = { ...(pod.metadata as Record<string, unknown>) };
    delete metadata.resourceVersion;
    const parsed = parseMessageBody(JSON.stringify(watchEvent("MODIFIED", { ...pod, metadata })));
    assert.match(parsed.rejected[0]?.reason ?? "", /resourceVersion/);
  });

  it("rejects an unknown event type", () => {
    const parsed = parseMessageBody(JSON.stringify({ type: "UPSERTED", object: pod }));
    assert.match(parsed.rejected[0]?.reason ?? "", /^type:/);
  });

  it("rejects an oversized event with its size", () => {
    const big = podObject({
      namespace: "shop",
      name: "big",
      resourceVersion: 1,
      annotations: { blob: "x".repeat(300_000) },
    });
    const parsed = parseMessageBody(JSON.stringify(watchEvent("ADDED", big)));
    assert.match(
      parsed.rejected[0]?.reason ?? "",
      /^oversized: event is \d+ bytes, over the 262144-byte limit/,
    );
  });

  it("ignores BOOKMARK events and rejects ERROR events with their message", () => {
    const bookmark = { type: "BOOKMARK", object: { kind: "Pod", metadata: { resourceVersion: "99" } } };
    const error = { type: "ERROR", object: { kind: "Status", message: "too old resource version" } };
    const parsed = parseMessageBody(JSON.stringify({ events: [bookmark, error] }));
    assert.equal(parsed.ignored, 1);
    assert.match(parsed.rejected[0]?.reason ?? "", /watch ERROR event: too old resource version/);
  });

  it("keeps only the fields sliceline reads", () => {
    const parsed = parseMessageBody(
      JSON.stringify(watchEvent("MODIFIED", nodeObject("n1", 5, "az-1", "192.0.2.1"))),
    );
    const node = parsed.events[0]?.object as { status?: Record<string, unknown> };
    assert.deepEqual(Object.keys(node.status ?? {}), ["addresses"]);
  });
});
