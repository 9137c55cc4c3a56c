/**
 * The end-to-end checks any pipeline must pass, written once: the embedded runner's test
 * (test/integration/local-runner.test.ts) and the described-target spec
 * (test/integration/deployed-pipeline.spec.ts, `npm run test:localstack`) both call them.
 *
 * Each run renames its namespaces and nodes with a tag of its own, and looks only at what it
 * created, so it can run again and again on a long-lived pipeline (LocalStack, or `npm run local`
 * with its demo loaded) and never sees another run's objects or older resourceVersions.
 */
import assert from "node:assert/strict";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { sendBodies } from "#scripts/local/runner.ts";
import type { ClusterSimulator, SimEvent } from "#scripts/sim/cluster-simulator.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { PipelineTarget } from "#test/support/pipeline-target.ts";
import {
  deliver,
  deliveryArbitrary,
  eventsFor,
  NAMESPACES,
  opArbitrary,
  seededCluster,
} from "#test/support/random-trace.ts";
import { canonicalPorts, endpointKeyOf, expectedEndpoints } from "#test/support/reference-model.ts";
import { WatcherView } from "#test/support/watcher-view.ts";

export interface Letter {
  readonly body: string;
  readonly attributes: Record<string, string>;
}

/** One simulated cluster, tagged: the reference model is computed on the untagged simulator. */
export class TraceRun {
  readonly tag: string;
  readonly sim: ClusterSimulator;
  #seeded: SimEvent[] | undefined;

  constructor(tag = `r${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`) {
    this.tag = tag;
    const seeded = seededCluster();
    this.sim = seeded.sim;
    this.#seeded = seeded.events;
  }

  /** The namespaces this run's objects live in, as the pipeline sees them. */
  get namespaces(): string[] {
    return NAMESPACES.map((namespace) => this.tagged(namespace));
  }

  tagged(name: string): string {
    return `${name}-${this.tag}`;
  }

  untagged(name: string): string {
    return name.endsWith(`-${this.tag}`) ? name.slice(0, -(this.tag.length + 1)) : name;
  }

  /**
   * Random operations on the simulator (the seeded cluster first, on the first call), delivered
   * with duplicates and reordering, as {"events": [...]} bodies of a few events each.
   */
  bodies(seed: number, operations: number): string[] {
    const events: SimEvent[] = this.#seeded ?? [];
    this.#seeded = undefined;
    const [ops] = fc.sample(fc.array(opArbitrary, { minLength: operations / 2, maxLength: operations }), {
      seed,
      numRuns: 1,
    });
    events.push(...eventsFor(this.sim, ops ?? []));
    const [delivery] = fc.sample(deliveryArbitrary(events.length), { seed: seed + 1, numRuns: 1 });
    return deliver(
      events.map((event) => this.#tag(event)),
      delivery as never,
    ).map((batch) => JSON.stringify({ events: batch }));
  }

  /** Three poison messages of this run: not JSON, a bad resourceVersion, an unknown kind. */
  malformedBodies(): string[] {
    return [
      `{ this is not json ${this.tag}`,
      JSON.stringify({
        type: "ADDED",
        object: {
          kind: "Pod",
          metadata: { namespace: this.tagged("alpha"), name: "z", resourceVersion: "latest" },
        },
      }),
      JSON.stringify({
        type: "ADDED",
        object: { kind: "Deployment", metadata: { name: this.tagged("d"), resourceVersion: "1" } },
      }),
    ];
  }

  #tag(event: SimEvent): SimEvent {
    const object = structuredClone(event.object) as {
      kind: string;
      metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string> };
      spec?: { nodeName?: string };
      status?: { addresses?: Array<{ type: string; address: string }> };
    };
    const { metadata } = object;
    if (object.kind === "Namespace" || object.kind === "Node") metadata.name = this.tagged(metadata.name);
    else if (metadata.namespace !== undefined) metadata.namespace = this.tagged(metadata.namespace);
    if (metadata.uid !== undefined) metadata.uid = this.tagged(metadata.uid);
    if (object.kind === "Pod" && object.spec?.nodeName !== undefined)
      object.spec.nodeName = this.tagged(object.spec.nodeName);
    if (object.kind === "Node") {
      if (metadata.labels?.["kubernetes.io/hostname"] !== undefined)
        metadata.labels["kubernetes.io/hostname"] = metadata.name;
      for (const address of object.status?.addresses ?? [])
        if (address.type === "Hostname") address.address = metadata.name;
    }
    return { type: event.type, object: object as unknown as Record<string, unknown> };
  }
}

/** Retries `attempt` for up to `lagMs` (at least once), a second apart; the last failure is thrown. */
export async function eventually<T>(lagMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + lagMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** This run's EndpointSlices through the API, paged `pageSize` at a time (list and continue tokens). */
export async function listSlices(api: string, run: TraceRun, pageSize = 3): Promise<EndpointSlice[]> {
  const slices: EndpointSlice[] = [];
  for (const namespace of run.namespaces) {
    let token = "";
    do {
      const url = `${api}/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?limit=${pageSize}${token === "" ? "" : `&continue=${encodeURIComponent(token)}`}`;
      const response = await fetch(url);
      assert.equal(response.status, 200, url);
      const list = (await response.json()) as { items: EndpointSlice[]; metadata: { continue?: string } };
      slices.push(...list.items);
      token = list.metadata.continue ?? "";
    } while (token !== "");
  }
  return slices;
}

/** Endpoints as the reference model names them (namespaces untagged). */
export function endpointKeys(run: TraceRun, slices: readonly EndpointSlice[]): string[] {
  return slices.flatMap((slice) =>
    slice.endpoints.flatMap((endpoint) =>
      endpoint.addresses.map((address) =>
        endpointKeyOf({
          service: `${run.untagged(slice.metadata.namespace)}/${slice.metadata.labels["kubernetes.io/service-name"]}`,
          addressType: slice.addressType,
          ports: canonicalPorts(slice.ports),
          pod: endpoint.targetRef.name,
          address,
          ...endpoint.conditions,
          zone: endpoint.zone,
        }),
      ),
    ),
  );
}

/** The API serves exactly the reference model's endpoints, each in one slice; returns the slices. */
export async function assertServesReference(target: PipelineTarget, run: TraceRun): Promise<EndpointSlice[]> {
  return eventually(target.lagMs, async () => {
    const slices = await listSlices(target.config.api, run);
    const published = endpointKeys(run, slices);
    assert.equal(new Set(published).size, published.length, "an endpoint appears in two slices");
    assert.deepEqual(new Set(published), expectedEndpoints(run.sim));
    return slices;
  });
}

/** Receives and deletes until the queue answers empty twice. */
export async function drain(sqs: SQSClient, queueUrl: string): Promise<Letter[]> {
  const messages: Letter[] = [];
  for (let empty = 0; empty < 2; ) {
    const result = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
        WaitTimeSeconds: 0,
      }),
    );
    const batch = result.Messages ?? [];
    if (batch.length === 0) {
      empty++;
      continue;
    }
    for (const message of batch) {
      const attributes: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.MessageAttributes ?? {}))
        attributes[name] = value.StringValue ?? "";
      messages.push({ body: message.Body ?? "", attributes });
    }
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
      }),
    );
  }
  return messages;
}

export const SETTLE_TIMEOUT_MS = 120_000;

/**
 * A generated trace with duplicates, reordering and three malformed messages goes into the ingest
 * queue as a producer would send it; then the API serves exactly the reference model's
 * EndpointSlice membership, and the dead-letter queue holds the three poison messages with reasons.
 */
export async function checkTraceWithPoison(
  target: PipelineTarget,
  run: TraceRun,
  settleTimeoutMs = SETTLE_TIMEOUT_MS,
): Promise<void> {
  const mixed = run.bodies(4242, 250);
  run.malformedBodies().forEach((body, i) => {
    mixed.splice(Math.floor(((i + 1) * mixed.length) / 4), 0, body);
  });
  await sendBodies(target.sqs, target.config.sqs.ingestQueueUrl, mixed);
  await target.settle(settleTimeoutMs);

  await assertServesReference(target, run);

  // At least once: a redelivered batch dead-letters its poison again, under the same source id.
  // Only this run's letters count (a long-lived target may hold others).
  const letters: Letter[] = [];
  const distinct = new Map<string, Letter>();
  await eventually(target.lagMs, async () => {
    for (const letter of await drain(target.sqs, target.config.sqs.deadLetterQueueUrl))
      if (letter.body.includes(run.tag)) letters.push(letter);
    for (const letter of letters) distinct.set(letter.attributes.sourceMessageId ?? letter.body, letter);
    assert.equal(distinct.size, 3, JSON.stringify(letters));
  });
  const reasons = [...distinct.values()].map((letter) => letter.attributes.reason ?? "");
  assert.match(reasons.find((r) => r.startsWith("invalid JSON")) ?? "", /^invalid JSON/);
  assert.ok(
    reasons.some((r) => /object\.metadata\.resourceVersion: must be a decimal integer string/.test(r)),
  );
  assert.ok(reasons.some((r) => /unknown kind "Deployment"/.test(r)));
  assert.ok(letters.some((letter) => letter.body === `{ this is not json ${run.tag}`));
}

/**
 * A watcher registered through POST /v1/watchers (list-then-watch) receives every later change of
 * its scope: its list plus its queue's messages (replayed as deltas, re-reading on gaps) equal the
 * final list.
 */
export async function checkWatcher(
  target: PipelineTarget,
  run: TraceRun,
  settleTimeoutMs = SETTLE_TIMEOUT_MS,
): Promise<void> {
  const { api } = target.config;
  const node = run.tagged("watcher");
  const response = await fetch(`${api}/v1/watchers`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ node, kinds: ["EndpointSlice"] }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  const { queueUrl } = (await response.json()) as { queueUrl: string };
  try {
    // List after registering (list-then-watch): the watcher's starting state.
    const view = new WatcherView(async (change) => {
      const path = `/apis/discovery.k8s.io/v1/namespaces/${change.namespace}/endpointslices/${change.name}`;
      const reread = await fetch(`${api}${path}`);
      if (reread.status === 404) return undefined;
      assert.equal(reread.status, 200, path);
      return (await reread.json()) as EndpointSlice;
    });
    view.seed(await listSlices(api, run, 50));

    await sendBodies(target.sqs, target.config.sqs.ingestQueueUrl, run.bodies(777, 200));
    await target.settle(settleTimeoutMs);
    const final = await assertServesReference(target, run);
    const summary = (slices: EndpointSlice[]) =>
      slices.map((s) => `${s.metadata.namespace}/${s.metadata.name}@${s.metadata.resourceVersion}`).sort();
    const namespaces = new Set(run.namespaces);

    // Either fan-out format (bundles of deltas, or one whole object per message); standard SNS and
    // SQS are unordered: the view applies by resourceVersion, keeps tombstones, re-reads on gaps.
    let received = 0;
    await eventually(target.lagMs, async () => {
      for (const message of await drain(target.sqs, queueUrl)) {
        received += await view.applyBody(message.body, (change) => {
          assert.equal(change.kind, "EndpointSlice");
          return namespaces.has(change.namespace ?? "");
        });
      }
      assert.ok(received > 0, "the watcher received nothing");
      const watched = view.objects() as EndpointSlice[];
      assert.deepEqual(summary(watched), summary(final));
      assert.deepEqual(new Set(endpointKeys(run, watched)), expectedEndpoints(run.sim));
    });
  } finally {
    await fetch(`${api}/v1/watchers/${encodeURIComponent(node)}`, { method: "DELETE" }).catch(() => {});
  }
}
