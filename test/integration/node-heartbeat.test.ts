/**
 * Node heartbeats cost nothing downstream, through the whole embedded pipeline: a churn trace
 * (seeded cluster, random operations, duplicates and reordering) is sent to the ingest queue and
 * converges; then Node updates that change nothing an output reads (heartbeat time, a new
 * resourceVersion, annotations, the same addresses, labels and zone) are sent in several rounds
 * and shapes, and once the pipeline has drained:
 *   - no record reached the slices table's stream (counted in the fan-out handler's input),
 *   - a watcher registered through POST /v1/watchers for every kind received nothing.
 * The counters are shown to work by positive controls through the same pipeline: a Node first
 * seen after its pods gives their endpoints a zone (an output field), and so does a zone move.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DynamoDBStreamEvent } from "aws-lambda";
import fc from "fast-check";
import { type LocalRunner, sendBodies, startLocalRunner } from "#scripts/local/runner.ts";
import type { SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { LOGICAL_IDS } from "#shared/config/resources.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { drain, endpointKeys, type TraceRun } from "#test/support/pipeline-checks.ts";
import {
  deliver,
  deliveryArbitrary,
  eventsFor,
  NAMESPACES,
  NODES,
  opArbitrary,
  seededCluster,
} from "#test/support/random-trace.ts";
import { expectedEndpoints } from "#test/support/reference-model.ts";

/**
 * Identity garbage collection runs after every ingest batch, heartbeats' included: with a grace
 * of seconds, identities the churn left unused would be deleted (CiliumIdentity REMOVE records,
 * Cilium deliveries) during the heartbeat rounds, due by the clock, not caused by the heartbeats.
 * The default grace (15 min) keeps them out of this test's few seconds.
 */
const CONTEXT = { ingestTimeoutSeconds: 3, ingestBatchWindowSeconds: 1, ingestBatchSize: 50 };
const SETTLE_MS = 120_000;

let outdir: string;
let runner: LocalRunner;
let watcherQueueUrl: string;
/** Every slices-table stream record the fan-out function was handed: "<eventName> <pk>/<sk>". */
const streamRecords: string[] = [];

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "sliceline-heartbeat-"));
  runner = await startLocalRunner({
    context: CONTEXT,
    outdir,
    logLevel: "SILENT",
    maxPollersPerQueue: 4,
    wrapHandler: (id, handler) =>
      id !== LOGICAL_IDS.fanoutFunction
        ? handler
        : (event: DynamoDBStreamEvent, ...rest: unknown[]) => {
            for (const record of event.Records) {
              const keys = record.dynamodb?.Keys;
              streamRecords.push(`${record.eventName} ${keys?.pk?.S}/${keys?.sk?.S}`);
            }
            return (handler as (...args: unknown[]) => Promise<unknown>)(event, ...rest);
          },
  });
  const response = await fetch(`${runner.config.api}/v1/watchers`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      node: "heartbeat-watcher",
      kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
    }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  ({ queueUrl: watcherQueueUrl } = (await response.json()) as { queueUrl: string });
});
after(async () => {
  await runner?.stop();
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

async function send(events: readonly SimEvent[], perMessage = 5): Promise<void> {
  const bodies: string[] = [];
  for (let i = 0; i < events.length; i += perMessage)
    bodies.push(JSON.stringify({ events: events.slice(i, i + perMessage) }));
  await sendBodies(runner.sqs, runner.config.sqs.ingestQueueUrl, bodies);
}

/** What reached the stream and the watcher since the last call, once the pipeline is idle. */
async function downstreamSinceLast(): Promise<{ records: string[]; deliveries: number }> {
  await runner.whenIdle({ timeoutMs: SETTLE_MS });
  const records = streamRecords.splice(0);
  const deliveries = (await drain(runner.sqs, watcherQueueUrl)).length;
  return { records, deliveries };
}

async function listSlices(namespace: string): Promise<EndpointSlice[]> {
  const response = await fetch(
    `${runner.config.api}/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
  );
  assert.equal(response.status, 200);
  return ((await response.json()) as { items: EndpointSlice[] }).items;
}

/** The endpoints the API serves, keyed as the reference model keys them (namespaces are not tagged). */
async function servedEndpoints(): Promise<Set<string>> {
  const slices: EndpointSlice[] = [];
  for (const namespace of NAMESPACES) slices.push(...(await listSlices(namespace)));
  return new Set(endpointKeys({ untagged: (name: string) => name } as TraceRun, slices));
}

/** A Node event of the simulator's node with extra changes applied to its object. */
function reshaped(event: SimEvent, change: (node: NodeObject) => void, type = event.type): SimEvent {
  const object = structuredClone(event.object) as unknown as NodeObject;
  change(object);
  return { type, object: object as unknown as Record<string, unknown> };
}

interface NodeObject {
  metadata: {
    name: string;
    resourceVersion: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  status: { addresses: Array<{ type: string; address: string }>; conditions: Array<Record<string, string>> };
}

describe("Node heartbeats through the embedded pipeline", { concurrency: false }, () => {
  const { sim, events: seeded } = seededCluster();

  it("converges a churn trace, and the stream and the watcher see it", async () => {
    const [ops] = fc.sample(fc.array(opArbitrary, { minLength: 150, maxLength: 300 }), {
      seed: 1234,
      numRuns: 1,
    });
    const events = [...seeded, ...eventsFor(sim, ops ?? [])];
    const [delivery] = fc.sample(deliveryArbitrary(events.length), { seed: 1235, numRuns: 1 });
    const bodies = deliver(events, delivery as never).map((batch) => JSON.stringify({ events: batch }));
    await sendBodies(runner.sqs, runner.config.sqs.ingestQueueUrl, bodies);
    const { records, deliveries } = await downstreamSinceLast();
    assert.ok(records.length > 0 && deliveries > 0, "the counters saw the trace");
    assert.deepEqual(await servedEndpoints(), expectedEndpoints(sim));
  });

  it("heartbeats of every node, in several rounds and shapes, write no slice and reach no watcher", async () => {
    for (let round = 0; round < 3; round++) {
      const beats: SimEvent[] = [];
      for (const node of NODES) {
        beats.push(sim.heartbeatNode(node)); // new lastHeartbeatTime and resourceVersion
        beats.push(
          reshaped(sim.heartbeatNode(node), (object) => {
            object.metadata.annotations = { "node.alpha.kubernetes.io/ttl": String(round) };
          }),
        );
        // The same addresses, listed again in another order; and a MODIFIED sent as ADDED (a re-list).
        beats.push(reshaped(sim.heartbeatNode(node), (object) => object.status.addresses.reverse()));
        beats.push(reshaped(sim.heartbeatNode(node), () => {}, "ADDED"));
      }
      // Duplicates and an older heartbeat after a newer one, as SQS may deliver them.
      await send([...beats, ...beats.slice(0, 4).reverse()], round + 1);
      const { records, deliveries } = await downstreamSinceLast();
      assert.deepEqual(records, [], `round ${round}: heartbeats rewrote slices`);
      assert.equal(deliveries, 0, `round ${round}: heartbeats reached the watcher`);
    }
  });

  it("a Node first seen after its pods writes only the zone it gives their endpoints, then heartbeats write nothing", async () => {
    const namespace = NAMESPACES[0];
    const late = "n-late";
    const pods: SimEvent[] = [];
    for (const name of ["late-0", "late-1"]) {
      pods.push(sim.createPod(namespace, name, { app: "web", tier: "fe" }, late));
      pods.push(sim.startPod(namespace, name), sim.setPodReady(namespace, name, true));
    }
    // A Service selecting them may or may not exist after the churn: make sure one does.
    pods.push(
      sim.upsertService({
        namespace,
        name: "late-svc",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
      }),
    );
    await send(pods);
    await downstreamSinceLast();
    const zoneless = (await listSlices(namespace))
      .flatMap((slice) => slice.endpoints)
      .filter((endpoint) => endpoint.nodeName === late);
    assert.ok(zoneless.length >= 2 && zoneless.every((endpoint) => endpoint.zone === undefined));

    // Positive control: the zone appears on the endpoints, a real change that must be written.
    // The Node is first seen through a heartbeat (its ADDED was missed), as MODIFIED.
    sim.addNode(late, "zone-late");
    await send([{ type: "MODIFIED", object: sim.heartbeatNode(late).object }]);
    const first = await downstreamSinceLast();
    assert.ok(first.records.length > 0, "a zone that appeared was not written");
    assert.ok(first.deliveries > 0, "a zone that appeared did not reach the watcher");
    const after = await listSlices(namespace);
    const zoned = after.flatMap((slice) => slice.endpoints).filter((endpoint) => endpoint.nodeName === late);
    assert.ok(zoned.length >= 2 && zoned.every((endpoint) => endpoint.zone === "zone-late"));
    // Only the EndpointSlices holding the node's endpoints were written: no CiliumEndpointSlice,
    // identity or unrelated slice (the zone is all that changed).
    const holding = new Set(
      after
        .filter((slice) => slice.endpoints.some((endpoint) => endpoint.nodeName === late))
        .map((slice) => `MODIFY EndpointSlice#${namespace}/${slice.metadata.name}`),
    );
    assert.deepEqual(
      first.records.filter((record) => !holding.has(record)),
      [],
    );

    for (let round = 0; round < 2; round++) {
      await send([sim.heartbeatNode(late), reshaped(sim.heartbeatNode(late), () => {}, "ADDED")]);
      const { records, deliveries } = await downstreamSinceLast();
      assert.deepEqual(records, [], `round ${round}: heartbeats of a late node rewrote slices`);
      assert.equal(deliveries, 0);
    }
  });

  it("a Node first seen without a zone, and a Node re-added after its tombstone, write nothing they do not change", async () => {
    const namespace = NAMESPACES[1];
    const bare = "n-bare";
    const pods: SimEvent[] = [];
    for (const name of ["bare-0", "bare-1"]) {
      pods.push(sim.createPod(namespace, name, { app: "db", tier: "be" }, bare));
      pods.push(sim.startPod(namespace, name), sim.setPodReady(namespace, name, true));
    }
    pods.push(
      sim.upsertService({
        namespace,
        name: "bare-svc",
        selector: { app: "db" },
        ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
      }),
    );
    await send(pods);
    await downstreamSinceLast();

    // No zone label: the endpoints stay zoneless, nothing to write.
    await send([sim.addNode(bare, undefined), sim.heartbeatNode(bare)]);
    const unzoned = await downstreamSinceLast();
    assert.deepEqual(unzoned.records, [], "a zoneless Node seen for the first time rewrote slices");
    assert.equal(unzoned.deliveries, 0);

    // A node without pods deleted, then re-added with its labels: nothing reads it.
    const empty = "n-empty";
    await send([sim.addNode(empty, "zone-0")]);
    await downstreamSinceLast();
    await send([reshaped(sim.heartbeatNode(empty), () => {}, "DELETED")]);
    await send([reshaped(sim.heartbeatNode(empty), () => {}, "ADDED"), sim.heartbeatNode(empty)]);
    const readded = await downstreamSinceLast();
    assert.deepEqual(readded.records, [], "a Node re-added after its tombstone rewrote slices");
    assert.equal(readded.deliveries, 0);

    // A node with pods deleted and re-added in one batch, same zone: the endpoints end as they were.
    const node = NODES[0];
    await send(
      [
        reshaped(sim.heartbeatNode(node), () => {}, "DELETED"),
        reshaped(sim.heartbeatNode(node), () => {}, "ADDED"),
      ],
      2,
    );
    const bounced = await downstreamSinceLast();
    assert.deepEqual(bounced.records, [], "a Node deleted and re-added in one batch rewrote slices");
    assert.equal(bounced.deliveries, 0);
    assert.deepEqual(await servedEndpoints(), expectedEndpoints(sim));
  });

  it("a zone move is written and delivered (the counters would catch a rewrite)", async () => {
    await send([sim.moveNodeToZone(NODES[1], "zone-moved")]);
    const moved = await downstreamSinceLast();
    assert.ok(moved.records.length > 0 && moved.deliveries > 0);
    assert.deepEqual(await servedEndpoints(), expectedEndpoints(sim));
  });
});
