import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import fc from "fast-check";
import { DynamoChangeLogReader } from "#shared/adapters/dynamodb/change-log-reader.ts";
import {
  CHANGE_LOG_SHARDS,
  changeLogItem,
  changeLogPks,
  type Item,
} from "#shared/adapters/dynamodb/items.ts";
import { compareUtf8 } from "#shared/adapters/dynamodb/shard-merge.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { ChangeLogEntry } from "#shared/fanout/change-log.ts";

const NOW_MS = 1_800_000_000_000;

/** A table that answers Queries of `pk = :pk AND sk >= :from` as DynamoDB does (sorted, Limit, start key). */
function fakeTable(items: readonly Item[]): { documents: DynamoDBDocumentClient; queries: () => number } {
  let queries = 0;
  const send = async (command: QueryCommand) => {
    queries++;
    const input = command.input;
    const values = input.ExpressionAttributeValues as Record<string, string>;
    const start = input.ExclusiveStartKey as Item | undefined;
    const rows = items
      .filter((item) => item.pk === values[":pk"] && compareUtf8(String(item.sk), values[":from"] ?? "") >= 0)
      .sort((a, b) => compareUtf8(String(a.sk), String(b.sk)))
      .filter((item) => start === undefined || compareUtf8(String(item.sk), String(start.sk)) > 0);
    const page = rows.slice(0, input.Limit ?? rows.length);
    const last = page.at(-1);
    return {
      Items: page,
      LastEvaluatedKey:
        rows.length > page.length && last !== undefined ? { pk: last.pk, sk: last.sk } : undefined,
    };
  };
  return { documents: { send } as unknown as DynamoDBDocumentClient, queries: () => queries };
}

function entry(key: string, resourceVersion: string): ChangeLogEntry {
  const [namespace = "", name = ""] = key.split("/");
  const object = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace, resourceVersion },
    addressType: "IPv4",
    endpoints: [],
  } as unknown as EndpointSlice;
  return {
    kind: "EndpointSlice",
    type: "MODIFIED",
    resourceVersion,
    key,
    namespace,
    object,
    previousLabels: {},
  };
}

describe("change log reader over shards", () => {
  it("spreads a kind's entries over its shards by key, each key's entries in one shard", () => {
    const pks = changeLogPks("EndpointSlice");
    assert.equal(pks.length, CHANGE_LOG_SHARDS);
    const byKey = new Map<string, Set<string>>();
    for (let i = 0; i < 400; i++) {
      const key = `ns-${i % 7}/svc-${i % 50}`;
      const item = changeLogItem(entry(key, String(1000 + i)), 0);
      assert.ok(pks.includes(String(item.pk)));
      byKey.set(key, (byKey.get(key) ?? new Set()).add(String(item.pk)));
    }
    for (const shards of byKey.values()) assert.equal(shards.size, 1);
    assert.equal(new Set([...byKey.values()].flatMap((s) => [...s])).size, CHANGE_LOG_SHARDS);
  });

  it("a watch following `more` reads every entry above its start once, in (resourceVersion, key) order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 4000 })), {
          // Versions unique across keys: a cut between two entries of one version may drop the
          // second (the watch reads on above the version), as one partition's pages did.
          selector: ([, version]) => version,
          minLength: 600,
          maxLength: 2500,
        }),
        fc.integer({ min: 0, max: 3000 }),
        async (pairs, after) => {
          const entries = pairs.map(([key, version]) => entry(`ns/svc-${key}`, String(version)));
          const { documents } = fakeTable(entries.map((e) => changeLogItem(e, NOW_MS / 1000 + 900)));
          const reader = new DynamoChangeLogReader({ documents, stateTable: "state", now: () => NOW_MS });
          const expected = entries
            .filter((e) => BigInt(e.resourceVersion) > BigInt(after))
            .sort(
              (a, b) => Number(a.resourceVersion) - Number(b.resourceVersion) || compareUtf8(a.key, b.key),
            )
            .map((e) => `${e.key}@${e.resourceVersion}`);
          const got: string[] = [];
          let cutReads = 0;
          let position = String(after);
          for (let reads = 0; reads < 100; reads++) {
            const page = await reader.readSince("EndpointSlice", position);
            for (const e of page.entries) {
              got.push(`${e.key}@${e.resourceVersion}`);
              if (BigInt(e.resourceVersion) > BigInt(position)) position = e.resourceVersion;
            }
            if (!page.more) break;
            cutReads++;
            assert.ok(page.entries.length > 0, "a cut read returns entries");
          }
          assert.deepEqual(got, expected);
          if (expected.length > 1000) assert.ok(cutReads > 0, "more than a read's worth is read in parts");
        },
      ),
      { seed: 7, numRuns: 60 },
    );
  });

  it("leaves out expired entries it has not seen deleted", async () => {
    const live = changeLogItem(entry("a/x", "10"), NOW_MS / 1000 + 60);
    const expired = changeLogItem(entry("a/y", "11"), NOW_MS / 1000 - 1);
    const { documents, queries } = fakeTable([live, expired]);
    const reader = new DynamoChangeLogReader({ documents, stateTable: "state", now: () => NOW_MS });
    const page = await reader.readSince("EndpointSlice", "0");
    assert.deepEqual(
      page.entries.map((e) => e.key),
      ["a/x"],
    );
    assert.equal(page.more, false);
    assert.equal(queries(), CHANGE_LOG_SHARDS, "one Query per shard");
  });
});
