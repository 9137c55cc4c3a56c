/**
 * Node name -> queue name is injective and always a valid SQS name: distinct node names (RFC 1123
 * subdomains up to 253 characters, the ones differing only in "." versus "-" included) never share
 * a queue, whatever the configured prefix.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { queueNameFor } from "#shared/adapters/watchers/watcher-channels.ts";
import { nodeNameSchema } from "#shared/api/watcher-registry.ts";

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
const nodeName = fc
  .array(label, { minLength: 1, maxLength: 8 })
  .map((labels) =>
    labels
      .join(".")
      .slice(0, 253)
      .replace(/[-.]+$/, ""),
  )
  .filter((name) => nodeNameSchema.safeParse(name).success);
const prefix = fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/);
/** A name and its "." <-> "-" twin: the pair that shared one queue before. */
const twins = nodeName.map((name) => [name, name.replaceAll(".", "-")] as const);

describe("queueNameFor (property)", () => {
  it("maps distinct node names to distinct valid queue names", () => {
    fc.assert(
      fc.property(
        prefix,
        fc.uniqueArray(
          fc.oneof(
            nodeName,
            twins.map(([, b]) => b),
          ),
          { maxLength: 30 },
        ),
        (p, nodes) => {
          const names = nodes.map((node) => queueNameFor(p, node));
          for (const name of names) {
            assert.match(name, /^[A-Za-z0-9_-]{1,80}$/);
          }
          assert.equal(new Set(names).size, nodes.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("separates a node name from its dash twin", () => {
    fc.assert(
      fc.property(prefix, twins, (p, [dotted, dashed]) => {
        if (dotted === dashed) return;
        assert.notEqual(queueNameFor(p, dotted), queueNameFor(p, dashed));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps short names readable", () => {
    assert.equal(
      queueNameFor("sliceline-watcher-", "ip-10-0-0-1.ec2.internal"),
      "sliceline-watcher-ip-10-0-0-1_ec2_internal",
    );
    assert.equal(
      queueNameFor("sliceline-watcher-", "ip-10-0-0-1-ec2-internal"),
      "sliceline-watcher-ip-10-0-0-1-ec2-internal",
    );
  });
});
