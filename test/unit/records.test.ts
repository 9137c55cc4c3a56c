import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareResourceVersions, isNewerThan } from "#shared/core/object-versions.ts";
import { sameRecord, toNodeRecord, toPodRecord, toServiceRecord } from "#shared/core/records.ts";
import { RevisionClock } from "#shared/core/revision-clock.ts";
import { nodeSchema, podSchema, serviceSchema } from "#shared/k8s/watch-event-schema.ts";
import { nodeObject, podObject, serviceObject } from "#test/support/k8s-objects.ts";

describe("slim records", () => {
  it("projects a pod onto the fields that matter", () => {
    const pod = podSchema.parse(
      podObject({
        namespace: "shop",
        name: "web-1",
        resourceVersion: 3,
        labels: { b: "2", a: "1" },
        podIPs: ["10.0.0.1", "fd00::1"],
        hostIP: "192.0.2.1",
        nodeName: "n1",
        ready: true,
        ports: [
          { name: "metrics", containerPort: 9090 },
          { name: "http", containerPort: 8080, protocol: "TCP" },
          { containerPort: 22 },
        ],
      }),
    );
    const record = toPodRecord(pod);
    assert.deepEqual(Object.keys(record.labels), ["a", "b"]);
    assert.deepEqual(record.podIPs, ["10.0.0.1", "fd00::1"]);
    assert.equal(record.ready, true);
    assert.equal(record.terminating, false);
    assert.deepEqual(
      record.namedPorts.map((p) => p.name),
      ["http", "metrics"],
    );
  });

  it("treats an empty selector as no selector and defaults targetPort to port", () => {
    const service = toServiceRecord(
      serviceSchema.parse(
        serviceObject({
          namespace: "shop",
          name: "web",
          resourceVersion: 1,
          selector: {},
          ports: [{ port: 80 }],
        }),
      ),
    );
    assert.equal(service.selector, undefined);
    assert.equal(service.ports[0]?.targetPort, 80);
    assert.equal(service.ports[0]?.protocol, "TCP");
  });

  it("sees no change in a Node heartbeat", () => {
    const before = toNodeRecord(
      nodeSchema.parse(nodeObject("n1", 1, "az-1", "192.0.2.1", "2026-11-25T12:00:00Z")),
    );
    const after = toNodeRecord(
      nodeSchema.parse(nodeObject("n1", 2, "az-1", "192.0.2.1", "2026-11-25T12:00:10Z")),
    );
    assert.equal(sameRecord(before, after), true);
    const moved = toNodeRecord(nodeSchema.parse(nodeObject("n1", 3, "az-2", "192.0.2.1")));
    assert.equal(sameRecord(before, moved), false);
  });

  it("sees no change in a pod annotation", () => {
    const a = podObject({
      namespace: "s",
      name: "p",
      resourceVersion: 1,
      podIP: "10.0.0.1",
      annotations: { x: "1" },
    });
    const b = podObject({
      namespace: "s",
      name: "p",
      resourceVersion: 2,
      podIP: "10.0.0.1",
      annotations: { x: "2" },
    });
    assert.equal(sameRecord(toPodRecord(podSchema.parse(a)), toPodRecord(podSchema.parse(b))), true);
  });
});

describe("resourceVersion ordering", () => {
  it("compares decimal strings numerically, at any length", () => {
    assert.equal(compareResourceVersions("9", "10"), -1);
    assert.equal(compareResourceVersions("0010", "10"), 0);
    assert.equal(compareResourceVersions("123456789012345678901234567890", "99"), 1);
  });

  it("applies only newer versions, and a tombstone blocks older resurrection", () => {
    assert.equal(isNewerThan("5", undefined), true);
    const tombstone = { resourceVersion: "8", record: undefined, deletedAtMs: 0 };
    assert.equal(isNewerThan("7", tombstone), false);
    assert.equal(isNewerThan("9", tombstone), true);
  });
});

describe("RevisionClock", () => {
  it("issues increasing versions even when the wall clock stands still or goes back", () => {
    let now = 1_000;
    const clock = new RevisionClock(() => now);
    const a = clock.next();
    const b = clock.next();
    now = 500;
    const c = clock.next();
    assert.ok(compareResourceVersions(a, b) < 0 && compareResourceVersions(b, c) < 0);
  });

  it("moves past an object's previous version written by a clock ahead of this one", () => {
    const clock = new RevisionClock(() => 1);
    assert.equal(clock.next("999999999999"), "1000000000000");
  });
});
