import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from "#shared/api/label-selector.ts";
import { StatusError } from "#shared/api/status.ts";

const labels = { app: "web", tier: "front", "example.com/team": "shop", version: "12" };

function matches(selector: string, on: Record<string, string> = labels): boolean {
  return matchesLabels(parseLabelSelector(selector), on);
}

describe("label selectors (apimachinery grammar)", () => {
  it("matches equality, inequality, existence and absence, comma-joined as AND", () => {
    assert.equal(matches("app=web"), true);
    assert.equal(matches("app==web"), true);
    assert.equal(matches("app=db"), false);
    assert.equal(matches("app!=db"), true);
    assert.equal(matches("missing!=x"), true, "!= matches objects without the key, as in Kubernetes");
    assert.equal(matches("tier"), true);
    assert.equal(matches("!tier"), false);
    assert.equal(matches("!missing"), true);
    assert.equal(matches("example.com/team=shop,app=web"), true);
    assert.equal(matches("example.com/team=shop,app=db"), false);
    assert.equal(matches("app="), false);
    assert.equal(matches("empty=", { empty: "" }), true);
    assert.equal(matches(""), true);
  });

  it("matches set-based and numeric requirements", () => {
    assert.equal(matches("app in (db, web)"), true);
    assert.equal(matches("app in (db)"), false);
    assert.equal(matches("app notin (db)"), true);
    assert.equal(matches("missing notin (db)"), true);
    assert.equal(matches("missing in (db)"), false);
    assert.equal(matches("version>11"), true);
    assert.equal(matches("version<12"), false);
    assert.equal(matches("app>1"), false, "a non-numeric value never satisfies gt");
  });

  it("keeps the trimmed text, which continue tokens are bound to", () => {
    assert.equal(parseLabelSelector("  app=web ").text, "app=web");
    assert.equal(parseLabelSelector(undefined).requirements.length, 0);
  });

  it("refuses what the apiserver refuses, as 400 Status errors", () => {
    for (const bad of [
      "app=web=x",
      "app in web",
      "app in (web",
      "app notin",
      "=web",
      "!",
      "!app=web",
      "a b",
      "app,,tier",
      "app,",
      "UPPER.example.com/app=1",
      "a/b/c=1",
      "-app=1",
      `${"k".repeat(64)}=1`,
      `app=${"v".repeat(64)}`,
      "app=bad value",
      "version>x",
      "version<",
    ]) {
      assert.throws(
        () => parseLabelSelector(bad),
        (error: unknown) =>
          error instanceof StatusError && error.status.code === 400 && error.status.reason === "BadRequest",
        bad,
      );
    }
  });

  it("never throws anything but a 400 StatusError, whatever the input", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(..."ab=!,() <>in/.-_x1 ".split("")), maxLength: 24 }),
        (text) => {
          try {
            const selector = parseLabelSelector(text);
            matchesLabels(selector, labels);
          } catch (error) {
            assert.ok(error instanceof StatusError && error.status.code === 400, String(error));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("field selectors", () => {
  const object = { metadata: { name: "web-1", namespace: "shop" } };

  it("supports metadata.name and metadata.namespace with = and !=", () => {
    assert.equal(matchesFields(parseFieldSelector("metadata.name=web-1"), object), true);
    assert.equal(matchesFields(parseFieldSelector("metadata.namespace!=shop"), object), false);
    assert.equal(
      matchesFields(parseFieldSelector("metadata.name==web-1,metadata.namespace=shop"), object),
      true,
    );
    assert.equal(matchesFields(parseFieldSelector(""), object), true);
  });

  it("refuses other fields and operators", () => {
    for (const bad of ["spec.nodeName=a", "metadata.name in (a)", "metadata.name", "!metadata.name"]) {
      assert.throws(() => parseFieldSelector(bad), StatusError, bad);
    }
  });
});
