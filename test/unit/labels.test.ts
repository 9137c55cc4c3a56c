import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { labelsEqual, selectorMatches, sortedLabels } from "#shared/core/labels.ts";

describe("labels", () => {
  it("matches a selector when every key=value is present", () => {
    assert.equal(selectorMatches({ app: "web" }, { app: "web", tier: "fe" }), true);
    assert.equal(selectorMatches({ app: "web" }, { app: "db" }), false);
    assert.equal(selectorMatches({ app: "web" }, {}), false);
    assert.equal(selectorMatches({}, { app: "web" }), true);
  });

  it("sorts keys so equal sets serialize equally", () => {
    assert.equal(
      JSON.stringify(sortedLabels({ b: "2", a: "1" })),
      JSON.stringify(sortedLabels({ a: "1", b: "2" })),
    );
    assert.deepEqual(Object.keys(sortedLabels({ b: "2", a: "1" })), ["a", "b"]);
  });

  it("compares label sets by content", () => {
    assert.equal(labelsEqual({ a: "1" }, { a: "1" }), true);
    assert.equal(labelsEqual({ a: "1" }, { a: "2" }), false);
    assert.equal(labelsEqual({ a: "1" }, { a: "1", b: "1" }), false);
  });
});
