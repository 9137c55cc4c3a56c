/**
 * The wire format (docs/wire-format.md, shared/watcher/wire-format.ts) holds both ends: every body
 * the fan-out's encoder (bundleMessages over random object histories, every scope, zone views
 * included) and the single-message publisher produce validates, and the agent parses it; a body
 * the schema rejects is refused by the validating agent as MalformedChangeError, counted, never a
 * crash. docs/wire-format.schema.json is the schema, generated.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { bundleMessages, coalesceChanges } from "#shared/fanout/bundle-publisher.ts";
import { messageBody } from "#shared/fanout/change-publisher.ts";
import { type ObjectChange, routeChange, scopesForWatcher } from "#shared/fanout/change-routing.ts";
import { changesOfBody, MalformedChangeError } from "#shared/watcher/change-body.ts";
import { WatcherAgent } from "#shared/watcher/watcher-agent.ts";
import { changeBodySchema, wireFormatJsonSchema } from "#shared/watcher/wire-format.ts";

const ZONES = ["a", "b"];
const SCOPES = new Set([
  ...scopesForWatcher(["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"], undefined, false),
  ...ZONES.flatMap((zone) =>
    scopesForWatcher(["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"], zone, true),
  ),
]);

const itemsArb = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.nat(6)), {
  maxLength: 12,
  selector: ([key]) => key,
});

function objectOf(
  kind: OutputObject["kind"],
  items: ReadonlyArray<readonly [number, number]>,
  meta: number,
  rv: number,
): OutputObject {
  const labels = { "kubernetes.io/service-name": "web", ...(meta % 2 === 1 ? { tier: "front" } : {}) };
  if (kind === "EndpointSlice")
    return {
      apiVersion: "discovery.k8s.io/v1",
      kind,
      metadata: { name: "web-abc", namespace: "shop", labels, resourceVersion: String(rv) },
      addressType: "IPv4",
      endpoints: items.map(([key, variant]) => ({
        addresses: [`10.0.${variant}.${key}`],
        conditions: { ready: variant % 2 === 0, serving: true, terminating: false },
        zone: ZONES[(key + variant) % ZONES.length] as string,
        targetRef: { kind: "Pod", namespace: "shop", name: `web-${key}`, uid: `uid-${key}` },
      })),
      ports: [{ name: "http", port: 8080 + (meta % 3), protocol: "TCP" }],
    } satisfies EndpointSlice;
  if (kind === "CiliumEndpointSlice")
    return {
      apiVersion: "cilium.io/v2alpha1",
      kind,
      metadata: { name: "ces-xyz", resourceVersion: String(rv) },
      namespace: "shop",
      endpoints: items.map(([key, variant]) => ({
        name: `web-${key}`,
        id: 1000 + variant,
        networking: { addressing: [{ ipv4: `10.0.${variant}.${key}` }], node: "10.1.0.1" },
      })),
    } satisfies CiliumEndpointSlice;
  return {
    apiVersion: "cilium.io/v2",
    kind,
    metadata: {
      name: String(1000 + meta),
      labels: { "k8s:app": `web-${meta}` },
      resourceVersion: String(rv),
    },
    "security-labels": { "k8s:app": `web-${meta}` },
  } satisfies CiliumIdentity;
}

/** A random history of one object: created, modified, maybe deleted and created again. */
const historyArb = fc
  .tuple(
    fc.constantFrom<OutputObject["kind"]>("EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"),
    fc.array(fc.option(fc.tuple(itemsArb, fc.nat(5)), { nil: undefined, freq: 5 }), {
      minLength: 1,
      maxLength: 8,
    }),
  )
  .map(([kind, states]) => {
    const changes: ObjectChange[] = [];
    let before: OutputObject | undefined;
    states.forEach((state, i) => {
      const after = state === undefined ? undefined : objectOf(kind, state[0], state[1], 10 + i);
      if (before !== undefined || after !== undefined)
        changes.push({ kind, before, after, sourceTimeMs: 1_000 + i });
      before = after;
    });
    return changes;
  });

function encodedBodies(changes: readonly ObjectChange[]): string[] {
  const records = changes.map((change, record) => ({ change, record }));
  return [
    ...bundleMessages(coalesceChanges(records), ZONES, SCOPES).map((message) => message.body),
    ...bundleMessages(records, ZONES, SCOPES, 600).map((message) => message.body),
    ...changes.flatMap((change) => routeChange(change, ZONES).map((routed) => messageBody(routed.message))),
  ];
}

/** A body damaged one way: a field dropped, retyped, or a value replaced. */
const damageArb = fc.tuple(fc.nat(), fc.constantFrom("drop", "string", "number", "null", "array"));

function damaged(value: unknown, [pick, how]: [number, string]): unknown {
  const paths: Array<Array<string | number>> = [];
  const walk = (node: unknown, path: Array<string | number>) => {
    if (typeof node !== "object" || node === null) return;
    for (const [key, child] of Object.entries(node)) {
      const at = [...path, Array.isArray(node) ? Number(key) : key];
      paths.push(at);
      walk(child, at);
    }
  };
  walk(value, []);
  const copy = structuredClone(value) as Record<string | number, unknown>;
  const path = paths[pick % Math.max(1, paths.length)];
  if (path === undefined) return null;
  let parent: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1) as string | number;
  if (how === "drop") delete parent[last];
  else parent[last] = how === "string" ? "x" : how === "number" ? -1.5 : how === "null" ? null : [];
  return copy;
}

function fakeSqs(bodies: string[]): SQSClient {
  return {
    send: async (command: unknown) => {
      if (command instanceof ReceiveMessageCommand)
        return { Messages: bodies.splice(0, 10).map((Body, i) => ({ Body, ReceiptHandle: String(i) })) };
      if (command instanceof DeleteMessageBatchCommand) return {};
      throw new Error("unexpected command");
    },
  } as unknown as SQSClient;
}

describe("wire format", () => {
  it("accepts every body the fan-out encodes, and the agent parses it", () => {
    fc.assert(
      fc.property(historyArb, (changes) => {
        for (const body of encodedBodies(changes)) {
          const parsed = JSON.parse(body);
          const result = changeBodySchema.safeParse(parsed);
          assert.ok(result.success, `${body}\n${JSON.stringify(result.error?.issues)}`);
          assert.ok(changesOfBody(body, { validate: true }).length > 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("rejects damaged bodies as MalformedChangeError when the schema does, and a validating agent counts them", async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, damageArb, async (changes, damage) => {
        const [body] = encodedBodies(changes);
        if (body === undefined) return;
        const value = damaged(JSON.parse(body), damage);
        const text = JSON.stringify(value) ?? "null";
        if (changeBodySchema.safeParse(value).success) return;
        assert.throws(() => changesOfBody(text, { validate: true }), MalformedChangeError);
        const agent = new WatcherAgent({
          api: "http://api.test",
          node: "n1",
          kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
          sqs: fakeSqs([text, "not json", "{}"]),
          fetch: (async () =>
            new Response(JSON.stringify({ queueUrl: "q", registeredAtMs: 0 }), {
              status: 201,
            })) as typeof fetch,
          validateBodies: true,
        });
        await agent.register();
        await agent.pollOnce(0);
        assert.equal(agent.stats.malformed, 3);
        assert.equal(agent.stats.applied, 0);
      }),
      { numRuns: 200 },
    );
  });

  it("docs/wire-format.schema.json is the schema", () => {
    const file = JSON.parse(
      readFileSync(new URL("../../docs/wire-format.schema.json", import.meta.url), "utf8"),
    );
    assert.deepEqual(
      file,
      wireFormatJsonSchema(),
      "regenerate: node -e 'import(\"#shared/watcher/wire-format.ts\")...' (docs/wire-format.md)",
    );
  });
});
