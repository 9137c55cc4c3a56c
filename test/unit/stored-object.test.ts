import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { objectFrom, sliceItem } from "#shared/adapters/dynamodb/items.ts";
import {
  deserializeOps,
  estimateBytes,
  type PlannedOp,
  serializeOps,
} from "#shared/adapters/dynamodb/transact.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { objectChangeFromImages } from "#shared/fanout/stored-change.ts";
import {
  COMPRESSED_OBJECT_ATTRIBUTE,
  compressObjectJson,
  StoredObjectError,
  storedObjectJson,
} from "#shared/fanout/stored-object.ts";

function slice(endpoints: number): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abcde",
      namespace: "shop",
      resourceVersion: "17",
      labels: { "kubernetes.io/service-name": "web" },
    },
    addressType: "IPv4",
    endpoints: Array.from({ length: endpoints }, (_, i) => ({
      addresses: [`10.0.${i >> 8}.${i & 255}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${i % 10}`,
      zone: `zone-${i % 3}`,
      targetRef: { kind: "Pod", name: `web-${i}`, namespace: "shop", uid: `uid-${i}` },
    })),
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  } as unknown as EndpointSlice;
}

describe("stored objects", () => {
  it("stores an object compressed, several times smaller, and reads it back equal", () => {
    const object = slice(100);
    const item = sliceItem(object, 5);
    assert.equal(item.object, undefined);
    const bytes = item[COMPRESSED_OBJECT_ATTRIBUTE];
    assert.ok(bytes instanceof Uint8Array && !Buffer.isBuffer(bytes), "a plain Uint8Array");
    assert.ok(bytes.byteLength * 5 < JSON.stringify(object).length, `${bytes.byteLength} bytes`);
    assert.deepEqual(objectFrom(item), object);
  });

  it("reads the base64 text of a Lambda stream event, and items written before compression", () => {
    const json = JSON.stringify(slice(3));
    const bytes = compressObjectJson(json);
    assert.equal(storedObjectJson({ objectBr: Buffer.from(bytes).toString("base64") }), json);
    assert.equal(storedObjectJson({ object: json }), json);
    assert.equal(storedObjectJson({ objectBr: bytes, object: "stale" }), json, "the compressed form wins");
  });

  it("refuses items without an object, and bytes that are not Brotli", () => {
    assert.throws(() => storedObjectJson({}), StoredObjectError);
    assert.throws(() => storedObjectJson({ objectBr: new Uint8Array([1, 2, 3, 4, 5]) }), StoredObjectError);
  });

  it("turns compressed stream images into the change, like plain ones", () => {
    const before = slice(2);
    const after = { ...slice(3), metadata: { ...slice(3).metadata, resourceVersion: "18" } } as EndpointSlice;
    const image = (object: EndpointSlice) => ({
      kind: "EndpointSlice",
      objectBr: Buffer.from(compressObjectJson(JSON.stringify(object))).toString("base64"),
      sourceTimeMs: 9,
    });
    const change = objectChangeFromImages(image(before), image(after));
    assert.deepEqual(change, { kind: "EndpointSlice", before, after, sourceTimeMs: 9 });
  });

  it("keeps binary values through a commit intent's JSON, and sizes them by their bytes", () => {
    const item = sliceItem(slice(100), 5);
    const op: PlannedOp = {
      table: "slices",
      key: { pk: String(item.pk), sk: String(item.sk) },
      action: { type: "put", item },
      bytes: estimateBytes(item),
      label: "put",
    };
    const [back] = deserializeOps(serializeOps([op]));
    assert.ok(back?.action.type === "put");
    assert.ok(back.action.item[COMPRESSED_OBJECT_ATTRIBUTE] instanceof Uint8Array);
    assert.deepEqual(objectFrom(back.action.item), slice(100));
    const raw = (item[COMPRESSED_OBJECT_ATTRIBUTE] as Uint8Array).byteLength;
    assert.ok(op.bytes < raw * 1.5 + 500, `${op.bytes} estimated for ${raw} bytes`);
  });
});

describe("the change log reuses the compressed form a stream image carried", () => {
  it("writes the image's own bytes for an object read from it, and compresses anything else", async () => {
    const { changeLogItem } = await import("#shared/adapters/dynamodb/items.ts");
    const { changeLogEntry } = await import("#shared/fanout/change-log.ts");
    const { brotliCompressSync, constants } = await import("node:zlib");
    const object = slice(40);
    // Bytes this process would not produce itself (another quality), so reuse is visible.
    const carried = brotliCompressSync(JSON.stringify(object), {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
    });
    assert.notDeepEqual(carried, Buffer.from(compressObjectJson(JSON.stringify(object))));
    const streamed = {
      ...sliceItem(object, 1),
      kind: "EndpointSlice",
      [COMPRESSED_OBJECT_ATTRIBUTE]: carried.toString("base64"),
    };
    const change = objectChangeFromImages(undefined, streamed);
    const logged = changeLogItem(changeLogEntry(change, 1_000), 60);
    assert.deepEqual(Buffer.from(logged[COMPRESSED_OBJECT_ATTRIBUTE] as Uint8Array), carried);
    assert.deepEqual(JSON.parse(storedObjectJson(logged)), object);

    // A deletion's entry is the last state stamped with a new version: compressed anew.
    const deleted = objectChangeFromImages(streamed, undefined);
    const tombstone = changeLogItem(changeLogEntry(deleted, 1_000), 60);
    assert.notDeepEqual(Buffer.from(tombstone[COMPRESSED_OBJECT_ATTRIBUTE] as Uint8Array), carried);
    assert.notEqual(JSON.parse(storedObjectJson(tombstone)).metadata.resourceVersion, "17");
  });
});
