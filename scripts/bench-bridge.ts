/**
 * `npm run bench:bridge [-- --pods 5000 --changes 20000 --senders 4 --body-bytes 65536]`: the
 * bridge's throughput into SQS on this machine. A fake apiserver (the tests' one) holds `pods`
 * running pods; an embedded fauxqs takes the messages (nothing consumes them). Two phases:
 *   - list: start to every listed object and SYNC chunk accepted by SQS;
 *   - watch: `changes` pod changes streamed over the watch (round-robin over the pods, so the
 *     queue may coalesce a pod changed again before it was sent), to all of them sent.
 * Prints a human summary and one JSON document (parameters, machine, per phase events/s).
 */
import { cpus, totalmem } from "node:os";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { startFauxqs } from "#scripts/local/backends.ts";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
import { FakeApiServer } from "#scripts/sim/fake-apiserver.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { Bridge } from "#shared/bridge/bridge.ts";
import { KubeClusterSource } from "#shared/bridge/kube-source.ts";
import { SqsBatchTransport } from "#shared/bridge/sqs-transport.ts";
import { kubeConfigFor } from "#test/support/bridge-harness.ts";

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : Number(process.argv[index + 1]);
  return value === undefined || !Number.isFinite(value) ? fallback : value;
}

const pods = option("pods", 5000);
const changes = option("changes", 20_000);
const senders = option("senders", 4);
const bodyBytes = option("body-bytes", 64 * 1024);

async function until(condition: () => boolean, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("bench timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const fauxqs = await startFauxqs();
const sqs = createSqsClient({
  endpoint: fauxqs.endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
});
const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "bench-bridge" }))).QueueUrl as string;
const fake = new FakeApiServer();
await fake.start();
const sim = new ClusterSimulator(100);
const nodes = 50;
for (let n = 0; n < nodes; n++) fake.apply(sim.addNode(`node-${n}`, `zone-${n % 3}`));
const namespaces = Math.max(1, Math.ceil(pods / 100));
for (let ns = 0; ns < namespaces; ns++) fake.apply(sim.addNamespace(`ns-${ns}`));
for (let i = 0; i < pods; i++) {
  const namespace = `ns-${i % namespaces}`;
  sim.createPod(namespace, `pod-${i}`, { app: `app-${i % 20}` }, `node-${i % nodes}`);
  sim.startPod(namespace, `pod-${i}`);
  fake.apply(sim.setPodReady(namespace, `pod-${i}`, true));
}

const bridge = new Bridge({
  source: new KubeClusterSource(kubeConfigFor(fake.url)),
  transport: new SqsBatchTransport(sqs, { ingest: queueUrl }),
  priorityNamespaces: [],
  senders,
  maxBodyBytes: bodyBytes,
});
const counters = bridge.metrics.counters;

const listStart = performance.now();
await bridge.start();
await until(() => counters.relists >= 4 && bridge.pending === 0);
const listMs = performance.now() - listStart;
const listed = { events: counters.eventsSent, messages: counters.sqsMessages, batches: counters.sqsBatches };

const before = { ...counters };
const watchStart = performance.now();
for (let c = 0; c < changes; c++) {
  const i = c % pods;
  fake.apply(sim.setPodReady(`ns-${i % namespaces}`, `pod-${i}`, c % 2 === 1));
  if (c % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
}
await until(() => counters.eventsSeen - before.eventsSeen >= changes && bridge.pending === 0);
const watchMs = performance.now() - watchStart;
const watched = {
  seen: counters.eventsSeen - before.eventsSeen,
  sent: counters.eventsSent - before.eventsSent,
  coalesced: counters.eventsCoalesced - before.eventsCoalesced,
  messages: counters.sqsMessages - before.sqsMessages,
  batches: counters.sqsBatches - before.sqsBatches,
};
await bridge.stop(10_000);
const attributes = await sqs.send(
  new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
);
await fake.stop();
sqs.destroy();
await fauxqs.stop();

const perSecond = (count: number, ms: number) => Math.round((count / ms) * 1000);
const document = {
  benchmark: "bridge",
  parameters: { pods, nodes, namespaces, changes, senders, maxBodyBytes: bodyBytes, target: "fauxqs" },
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryBytes: totalmem(),
    node: process.version,
  },
  list: { ...listed, ms: Math.round(listMs), eventsPerSecond: perSecond(listed.events, listMs) },
  watch: {
    ...watched,
    ms: Math.round(watchMs),
    seenPerSecond: perSecond(watched.seen, watchMs),
    sentPerSecond: perSecond(watched.sent, watchMs),
  },
  messagesInQueue: Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0),
};
process.stdout.write(
  `bridge -> fauxqs: list ${listed.events} events (${listed.messages} messages) in ${document.list.ms} ms = ${document.list.eventsPerSecond} events/s; ` +
    `watch ${watched.seen} changes in ${document.watch.ms} ms = ${document.watch.seenPerSecond} changes/s seen, ` +
    `${document.watch.sentPerSecond} events/s sent (${watched.coalesced} coalesced, ${watched.messages} messages)\n`,
);
process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
