import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { nodeObject, podObject, serviceObject, watchEvent } from "#test/support/k8s-objects.ts";

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

describe("Kubernetes validation at the schema", () => {
  const reasonOf = (object: Record<string, unknown>): string =>
    parseMessageBody(JSON.stringify(watchEvent("ADDED", object))).rejected[0]?.reason ?? "accepted";
  const withMetadata = (patch: Record<string, unknown>) => ({
    ...pod,
    metadata: { ...(pod.metadata as object), ...patch },
  });

  it("accepts names, namespaces and labels Kubernetes accepts", () => {
    const accepted = withMetadata({
      name: `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`,
      namespace: "x".repeat(63),
      labels: {
        [`${"p".repeat(200)}.example.com/${"n".repeat(63)}`]: "v".repeat(63),
        "app.kubernetes.io/name": "Web_1.x-y",
        empty: "",
      },
    });
    assert.equal(reasonOf(accepted), "accepted");
  });

  it("rejects names that are not DNS-1123 subdomains, or longer than 253", () => {
    assert.match(
      reasonOf(withMetadata({ name: "Web_1" })),
      /object\.metadata\.name: must be a DNS-1123 subdomain/,
    );
    assert.match(reasonOf(withMetadata({ name: "a".repeat(254) })), /object\.metadata\.name: .*253/);
    assert.match(
      reasonOf({ ...nodeObject("ip-10-0-0-1_ec2", 5, "az-1", "192.0.2.1") }),
      /object\.metadata\.name: must be a DNS-1123 subdomain/,
    );
  });

  it("rejects namespaces that are not DNS-1123 labels, or longer than 63", () => {
    assert.match(
      reasonOf(withMetadata({ namespace: "a.b" })),
      /object\.metadata\.namespace: must be a DNS-1123 label/,
    );
    assert.match(reasonOf(withMetadata({ namespace: "a".repeat(64) })), /object\.metadata\.namespace: .*63/);
  });

  it("rejects label keys and values Kubernetes rejects", () => {
    for (const labels of [
      { [`${"n".repeat(64)}`]: "v" },
      { [`${"p".repeat(254)}/n`]: "v" },
      { "Bad_Prefix/n": "v" },
      { "-starts-with-dash": "v" },
      { "a/b/c": "v" },
      { app: "v".repeat(64) },
      { app: "has space" },
      { app: "-dash-first" },
    ]) {
      assert.match(reasonOf(withMetadata({ labels })), /object\.metadata\.labels/, JSON.stringify(labels));
    }
    const service = serviceObject({
      namespace: "shop",
      name: "web",
      resourceVersion: 1,
      selector: { "a b": "x" },
    });
    assert.match(reasonOf(service), /object\.spec\.selector/);
  });

  it("takes at most one IP per family in podIPs, as Kubernetes does", () => {
    const withIPs = (podIPs: string[]) =>
      podObject({ namespace: "shop", name: "p", resourceVersion: 1, podIPs, ready: true });
    assert.equal(reasonOf(withIPs(["10.0.0.1", "fd00::1"])), "accepted");
    assert.match(reasonOf(withIPs(["10.0.0.1", "10.0.0.2"])), /object\.status\.podIPs: .*one IP per family/);
    const many = Array.from(
      { length: 10_000 },
      (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    );
    assert.match(reasonOf(withIPs(many)), /object\.status\.podIPs/);
    assert.match(reasonOf(withIPs(["not-an-ip"])), /object\.status\.podIPs\.0\.ip: must be an IP address/);
  });
});
