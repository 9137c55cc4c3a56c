import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { negotiate } from "#shared/api/router.ts";
import { StatusError } from "#shared/api/status.ts";
import { humanDuration, listWithMore } from "#shared/api/table.ts";

describe("Table printing helpers", () => {
  it("formats ages like apimachinery's HumanDuration", () => {
    const s = 1000;
    const cases: Array<[number, string]> = [
      [-5 * s, "<invalid>"],
      [-1 * s, "0s"],
      [0, "0s"],
      [59 * s, "59s"],
      [119 * s, "119s"],
      [120 * s, "2m"],
      [187 * s, "3m7s"],
      [10 * 60 * s, "10m"],
      [179 * 60 * s, "179m"],
      [3 * 3600 * s, "3h"],
      [(3 * 3600 + 25 * 60) * s, "3h25m"],
      [8 * 3600 * s, "8h"],
      [47 * 3600 * s, "47h"],
      [(2 * 24 + 5) * 3600 * s, "2d5h"],
      [3 * 24 * 3600 * s, "3d"],
      [30 * 24 * 3600 * s, "30d"],
      [(2 * 365 + 10) * 24 * 3600 * s, "2y10d"],
      [9 * 365 * 24 * 3600 * s, "9y"],
    ];
    for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, String(ms));
  });

  it("lists three entries then counts the rest, and says <unset> for none", () => {
    assert.equal(listWithMore([]), "<unset>");
    assert.equal(listWithMore(["80"]), "80");
    assert.equal(listWithMore(["1", "2", "3"]), "1,2,3");
    assert.equal(listWithMore(["1", "2", "3", "4", "5"]), "1,2,3 + 2 more...");
  });
});

describe("content negotiation", () => {
  it("follows the client's order and knows kubectl's Table request", () => {
    const kubectl =
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    assert.deepEqual(negotiate(kubectl), { table: "meta.k8s.io/v1" });
    assert.deepEqual(negotiate("application/json;as=Table;g=meta.k8s.io;v=v1beta1"), {
      table: "meta.k8s.io/v1beta1",
    });
    assert.deepEqual(negotiate("application/json, application/json;as=Table;v=v1;g=meta.k8s.io"), {
      table: undefined,
    });
    assert.deepEqual(negotiate(undefined), { table: undefined });
    assert.deepEqual(negotiate("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, */*"), {
      table: undefined,
    });
    assert.throws(() => negotiate("application/vnd.kubernetes.protobuf"), StatusError);
    assert.throws(
      () => negotiate("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
      StatusError,
    );
  });
});
