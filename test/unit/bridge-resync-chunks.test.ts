/** The SYNC chunks a list becomes: ranges that tile the name space, every name once, each small enough. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { syncChunks } from "#shared/bridge/resync-chunks.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

const nameArbitrary = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/);

describe("SYNC chunks of a list", () => {
  it("tile the name space, hold every name once inside their range, fit the budget and parse", () => {
    fc.assert(
      fc.property(
        fc.array(nameArbitrary, { maxLength: 300 }),
        fc.integer({ min: 1024, max: 8192 }),
        fc.boolean(),
        (names, maxChunkBytes, clusterScoped) => {
          const chunks = syncChunks(
            clusterScoped ? "Node" : "Pod",
            clusterScoped ? undefined : "web",
            names,
            "42",
            maxChunkBytes,
          );
          assert.ok(chunks.length >= 1);
          assert.equal(chunks[0]?.range.from, "");
          assert.equal(chunks.at(-1)?.range.to, undefined);
          for (let i = 1; i < chunks.length; i++)
            assert.equal(chunks[i]?.range.from, chunks[i - 1]?.range.to);
          const covered = chunks.flatMap((chunk) => {
            assert.ok(Buffer.byteLength(JSON.stringify(chunk)) <= Math.max(maxChunkBytes, 1024) + 64);
            const parsed = parseMessageBody(JSON.stringify(chunk));
            assert.deepEqual(parsed.rejected, [], JSON.stringify(chunk).slice(0, 200));
            return [...chunk.names];
          });
          assert.deepEqual(covered, [...new Set(names)].sort());
        },
      ),
    );
  });
});
