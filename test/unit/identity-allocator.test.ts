import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  IdentityAllocator,
  type IdentityAllocatorSnapshot,
  IdentityExhaustedError,
  IdentityOverReleaseError,
  InvalidIdentityAllocatorConfigError,
  InvalidIdentitySnapshotError,
  UnknownIdentityError,
} from "#shared/core/identity/identity-allocator.ts";
import { labelSetKey, securityLabels } from "#shared/core/identity/security-labels.ts";
import type { PodRecord } from "#shared/core/model.ts";

const GRACE = 60_000;

function labels(app: string, namespace = "shop"): Record<string, string> {
  return { "k8s:app": app, "k8s:io.kubernetes.pod.namespace": namespace };
}

describe("IdentityAllocator: ids", () => {
  it("starts at 256 and gives one id per label set", () => {
    const allocator = new IdentityAllocator();
    assert.deepEqual(allocator.acquire(labels("web"), 0), { id: 256, created: true });
    assert.deepEqual(allocator.acquire(labels("db"), 0), { id: 257, created: true });
    assert.deepEqual(allocator.acquire({ "k8s:io.kubernetes.pod.namespace": "shop", "k8s:app": "web" }, 0), {
      id: 256,
      created: false,
    });
    assert.equal(allocator.get(256)?.refCount, 2);
    assert.equal(allocator.idFor(labelSetKey(labels("db"))), 257);
    assert.equal(allocator.idFor(labelSetKey(labels("nope"))), undefined);
    assert.equal(allocator.size, 2);
  });

  it("covers Cilium's cluster range 256..65535 by default", () => {
    const allocator = new IdentityAllocator();
    assert.equal(allocator.minId, 256);
    assert.equal(allocator.maxId, 65535);
    assert.equal(allocator.capacity, 65280);
  });

  it("throws IdentityExhaustedError when every id in the range is taken", () => {
    const allocator = new IdentityAllocator({ minId: 256, maxId: 258, gcGraceMs: GRACE });
    for (const app of ["a", "b", "c"]) allocator.acquire(labels(app), 0);
    assert.throws(() => allocator.acquire(labels("d"), 0), IdentityExhaustedError);
    // An existing label set still resolves when the range is full.
    assert.equal(allocator.acquire(labels("a"), 0).id, 256);
  });

  it("counts identities in their grace period as taken, and frees them once collected", () => {
    const allocator = new IdentityAllocator({ minId: 256, maxId: 257, gcGraceMs: GRACE });
    allocator.acquire(labels("a"), 0);
    allocator.acquire(labels("b"), 0);
    allocator.release(256, 0);
    assert.throws(() => allocator.acquire(labels("c"), 1), /1 unused, awaiting garbage collection/);
    assert.deepEqual(allocator.collectGarbage(GRACE), [256]);
    assert.deepEqual(allocator.acquire(labels("c"), GRACE), { id: 256, created: true });
  });

  it("does not reuse a just-freed id: the cursor moves on", () => {
    const allocator = new IdentityAllocator({ gcGraceMs: 0 });
    const first = allocator.acquire(labels("a"), 0).id;
    allocator.release(first, 0);
    assert.deepEqual(allocator.collectGarbage(0), [first]);
    assert.equal(allocator.acquire(labels("b"), 0).id, first + 1);
    // Even the same label set gets a fresh id once its old identity is gone.
    assert.equal(allocator.acquire(labels("a"), 0).id, first + 2);
  });

  it("wraps around to free ids at the start of the range", () => {
    const allocator = new IdentityAllocator({ minId: 256, maxId: 258, gcGraceMs: 0 });
    for (const app of ["a", "b", "c"]) allocator.acquire(labels(app), 0);
    allocator.release(257, 0);
    allocator.collectGarbage(0);
    assert.equal(allocator.acquire(labels("d"), 0).id, 257);
    allocator.release(256, 0);
    allocator.collectGarbage(0);
    assert.equal(allocator.acquire(labels("e"), 0).id, 256);
  });

  it("validates its options", () => {
    assert.throws(() => new IdentityAllocator({ minId: 10, maxId: 5 }), InvalidIdentityAllocatorConfigError);
    assert.throws(() => new IdentityAllocator({ minId: 0 }), InvalidIdentityAllocatorConfigError);
    assert.throws(() => new IdentityAllocator({ gcGraceMs: -1 }), InvalidIdentityAllocatorConfigError);
    assert.throws(
      () => new IdentityAllocator().acquire(labels("a"), Number.NaN),
      InvalidIdentityAllocatorConfigError,
    );
  });
});

describe("IdentityAllocator: reference counting and garbage collection", () => {
  it("keeps an unused identity for the grace period, then deletes it", () => {
    const allocator = new IdentityAllocator({ gcGraceMs: GRACE });
    const { id } = allocator.acquire(labels("web"), 0);
    allocator.acquire(labels("web"), 0);
    allocator.release(id, 1_000);
    assert.deepEqual(allocator.collectGarbage(1_000 + GRACE), [], "still referenced once");
    allocator.release(id, 2_000);
    assert.equal(allocator.get(id)?.unusedSinceMs, 2_000);
    assert.deepEqual(allocator.collectGarbage(2_000 + GRACE - 1), []);
    assert.deepEqual(allocator.collectGarbage(2_000 + GRACE), [id]);
    assert.equal(allocator.get(id), undefined);
    assert.equal(allocator.idFor(labelSetKey(labels("web"))), undefined);
  });

  it("re-acquiring within the grace period revives the same id", () => {
    const allocator = new IdentityAllocator({ gcGraceMs: GRACE });
    const { id } = allocator.acquire(labels("web"), 0);
    allocator.release(id, 0);
    assert.deepEqual(allocator.acquire(labels("web"), GRACE - 1), { id, created: false });
    assert.equal(allocator.get(id)?.unusedSinceMs, undefined);
    assert.deepEqual(allocator.collectGarbage(10 * GRACE), []);
  });

  it("rejects releasing unknown ids and releasing more than acquired", () => {
    const allocator = new IdentityAllocator();
    assert.throws(() => allocator.release(999, 0), UnknownIdentityError);
    const { id } = allocator.acquire(labels("web"), 0);
    allocator.release(id, 0);
    assert.throws(() => allocator.release(id, 0), IdentityOverReleaseError);
  });

  it("iterates over existing identities, unused ones included until collected", () => {
    const allocator = new IdentityAllocator({ gcGraceMs: GRACE });
    allocator.acquire(labels("a"), 0);
    allocator.acquire(labels("b"), 0);
    allocator.release(257, 0);
    assert.deepEqual(
      [...allocator].map((i) => [i.id, i.refCount]),
      [
        [256, 1],
        [257, 0],
      ],
    );
  });
});

describe("IdentityAllocator: CiliumIdentity objects", () => {
  it("names the object by id and keeps the full labels in security-labels", () => {
    const allocator = new IdentityAllocator();
    const security = {
      "k8s:app": "web",
      "k8s:app.kubernetes.io/name": "web",
      "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "shop",
      "k8s:io.kubernetes.pod.namespace": "shop",
      "k8s:bad key": "x",
    };
    const { id } = allocator.acquire(security, 0);
    assert.deepEqual(allocator.toCiliumIdentity(id), {
      apiVersion: "cilium.io/v2",
      kind: "CiliumIdentity",
      metadata: {
        name: String(id),
        labels: { app: "web", "app.kubernetes.io/name": "web", "io.kubernetes.pod.namespace": "shop" },
      },
      "security-labels": {
        "k8s:app": "web",
        "k8s:app.kubernetes.io/name": "web",
        "k8s:bad key": "x",
        "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "shop",
        "k8s:io.kubernetes.pod.namespace": "shop",
      },
    });
    assert.throws(() => allocator.toCiliumIdentity(12345), UnknownIdentityError);
  });

  it("gives a pod a new identity when its namespace's labels change", () => {
    const pod: PodRecord = {
      namespace: "shop",
      name: "web-1",
      uid: "u1",
      labels: { app: "web" },
      nodeName: "n1",
      hostNetwork: false,
      podIPs: ["10.0.0.1"],
      hostIP: "192.168.0.1",
      phase: "Running",
      ready: true,
      terminating: false,
      namedPorts: [],
    };
    const allocator = new IdentityAllocator({ gcGraceMs: GRACE });
    const before = allocator.acquire(securityLabels(pod, { name: "shop", labels: { env: "dev" } }), 0);
    const after = allocator.acquire(securityLabels(pod, { name: "shop", labels: { env: "prod" } }), 0);
    allocator.release(before.id, 0);
    assert.notEqual(after.id, before.id);
    assert.equal(after.created, true);
    assert.equal(
      allocator.toCiliumIdentity(after.id)["security-labels"]["k8s:io.cilium.k8s.namespace.labels.env"],
      "prod",
    );
  });
});

describe("IdentityAllocator: snapshot and restore", () => {
  it("round-trips through JSON and continues exactly where it stopped", () => {
    const allocator = new IdentityAllocator({ minId: 256, maxId: 300, gcGraceMs: GRACE });
    allocator.acquire(labels("a"), 0);
    allocator.acquire(labels("b"), 0);
    allocator.acquire(labels("b"), 0);
    allocator.acquire(labels("c"), 0);
    allocator.release(256, 500);
    allocator.release(258, 700);
    allocator.collectGarbage(700 + GRACE); // 256 and 258 go; the cursor stays at 259
    allocator.acquire(labels("d"), 800);
    allocator.release(259, 900);

    const snapshot = JSON.parse(JSON.stringify(allocator.snapshot())) as IdentityAllocatorSnapshot;
    assert.deepEqual(snapshot, {
      version: 1,
      minId: 256,
      maxId: 300,
      cursor: 260,
      identities: [
        { id: 257, labels: labels("b"), refCount: 2 },
        { id: 259, labels: labels("d"), refCount: 0, unusedSinceMs: 900 },
      ],
    });

    const restored = IdentityAllocator.fromSnapshot(snapshot, { gcGraceMs: GRACE });
    assert.deepEqual(restored.snapshot(), allocator.snapshot());
    assert.deepEqual(restored.acquire(labels("b"), 1_000), { id: 257, created: false });
    assert.deepEqual(restored.acquire(labels("e"), 1_000), { id: 260, created: true });
    assert.deepEqual(restored.collectGarbage(900 + GRACE), [259]);
  });

  it("rejects inconsistent snapshots", () => {
    const base = (identities: IdentityAllocatorSnapshot["identities"]): IdentityAllocatorSnapshot => ({
      version: 1,
      minId: 256,
      maxId: 300,
      cursor: 256,
      identities,
    });
    const cases: IdentityAllocatorSnapshot[] = [
      base([{ id: 100, labels: labels("a"), refCount: 1 }]),
      base([
        { id: 256, labels: labels("a"), refCount: 1 },
        { id: 256, labels: labels("b"), refCount: 1 },
      ]),
      base([
        { id: 256, labels: labels("a"), refCount: 1 },
        { id: 257, labels: labels("a"), refCount: 1 },
      ]),
      base([{ id: 256, labels: labels("a"), refCount: 0 }]),
      base([{ id: 256, labels: labels("a"), refCount: -1 }]),
      base([{ id: 256, labels: { a: 1 } as unknown as Record<string, string>, refCount: 1 }]),
      { ...base([]), version: 2 } as unknown as IdentityAllocatorSnapshot,
    ];
    for (const snapshot of cases) {
      assert.throws(
        () => IdentityAllocator.fromSnapshot(snapshot),
        InvalidIdentitySnapshotError,
        JSON.stringify(snapshot),
      );
    }
  });
});
