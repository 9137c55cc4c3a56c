/**
 * GET /v1/ipcache/{ip} on DynamoDB, with pod items written by the real writer: watch events go
 * through the real ingest handler (SQS batches) into DynamoDB Local, and the API answers from the
 * state table's podsByIPv4 / podsByIPv6 indexes. Nothing is seeded by hand.
 *
 * Each step asks the DynamoDB reader (through the router, and once through the real API handler)
 * and the in-memory reader, fed the same events by a SliceEngine on a MemoryClusterStore, for the
 * same IPs: the two must agree, and the answer must be the pod the step expects (or 404). Covered:
 * IPv4 and IPv6 of a dual-stack pod, a host-network pod on its node's IP, a finished pod, a pod
 * that lost its IP, a deleted pod (tombstone), and an IP reused by a new pod while the old pod's
 * deletion has not arrived yet, delivered in both orders.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";
import { slicingSettingsFromEnvironment } from "#functions/commons/environment.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { DynamoSliceReader } from "#shared/adapters/dynamodb/slice-reader.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import type { IPCacheEntry } from "#shared/api/slice-reader.ts";
import { ENV } from "#shared/config/resources.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { type DynamoDbLocal, startDynamoDbLocal } from "#test/support/dynamodb-local.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { lambdaContext, quietPowertools } from "#test/support/lambda.ts";

let dynamo: DynamoDbLocal;
let messaging: FauxqsHandle;
let ingestHandler: (event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>;
let apiHandler: (event: APIGatewayProxyEventV2, context: unknown) => Promise<unknown>;
let dynamoApi: ApiRouter;
let memoryApi: ApiRouter;
let memoryEngine: SliceEngine;
let batches = 0;

before(async () => {
  quietPowertools();
  dynamo = await startDynamoDbLocal({ tablePrefix: "ipcache-" });
  messaging = await startLocalMessaging();
  const queue = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "ipcache-dlq" }));
  process.env[ENV.deadLetterQueueUrl] = queue.QueueUrl as string;
  ({ handler: ingestHandler } = (await import("#functions/ingest/handler.ts")) as never);
  // The API signs continue tokens with a key the stack provides; a fixed one here.
  process.env[ENV.continueTokenKey] = "k".repeat(32);
  ({ handler: apiHandler } = (await import("#functions/api/handler.ts")) as never);
  const documents = DynamoDBDocumentClient.from(dynamo.client);
  dynamoApi = createApiRouter({
    reader: new DynamoSliceReader({
      documents,
      stateTable: dynamo.tableNames.StateTable as string,
      slicesTable: dynamo.tableNames.SlicesTable as string,
      identitiesTable: dynamo.tableNames.IdentitiesTable as string,
    }),
  });
  const settings = slicingSettingsFromEnvironment();
  const memory = new MemoryClusterStore(settings);
  memoryEngine = new SliceEngine({ settings, store: memory });
  memoryApi = createApiRouter({ reader: new MemorySliceReader(memory) });
});
after(async () => {
  await messaging?.stop();
  await dynamo?.stop();
});

/** One SQS batch of one message through the real ingest handler, and the same events in memory. */
async function ingest(events: readonly SimEvent[]): Promise<void> {
  const body = JSON.stringify({ events });
  const id = `m${++batches}`;
  const now = String(Date.now());
  const response = await ingestHandler(
    {
      Records: [
        {
          messageId: id,
          receiptHandle: `rh-${id}`,
          body,
          attributes: {
            ApproximateReceiveCount: "1",
            SentTimestamp: now,
            SenderId: "producer",
            ApproximateFirstReceiveTimestamp: now,
          },
          messageAttributes: {},
          md5OfBody: "",
          eventSource: "aws:sqs",
          eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:IngestQueue",
          awsRegion: "us-east-1",
        },
      ],
    },
    lambdaContext("ingest"),
  );
  assert.deepEqual(response.batchItemFailures, []);
  const parsed = parseMessageBody(body);
  assert.deepEqual(parsed.rejected, []);
  await memoryEngine.applyBatch(parsed.events.map((event) => ({ event, sourceTimeMs: Date.now() })));
}

async function lookup(router: ApiRouter, ip: string): Promise<{ status: number; body: IPCacheEntry }> {
  const response = await router({
    method: "GET",
    path: `/v1/ipcache/${encodeURIComponent(ip)}`,
    query: new URLSearchParams(),
  });
  return { status: response.status, body: JSON.parse(response.body) as IPCacheEntry };
}

/**
 * Identity ids the DynamoDB pipeline gave, by the id the in-memory engine gave the same label set:
 * ingest reconciles a batch's namespaces concurrently, so new identities may take ids in another
 * order than one engine's sequential run; the mapping must stay one-to-one.
 */
const dynamoIdOfMemoryId = new Map<number, number>();

/** Both readers answer `ip` alike: with `pod` ("namespace/name"), or 404 when it is undefined. */
async function assertAnswers(ip: string, pod: string | undefined): Promise<IPCacheEntry | undefined> {
  const fromDynamo = await lookup(dynamoApi, ip);
  const fromMemory = await lookup(memoryApi, ip);
  const dynamoId = fromDynamo.body?.identity?.id;
  const memoryId = fromMemory.body?.identity?.id;
  if (dynamoId !== undefined && memoryId !== undefined) {
    const known = dynamoIdOfMemoryId.get(memoryId);
    assert.equal(known ?? dynamoId, dynamoId, `${ip}: one label set, two identities`);
    assert.ok(
      known !== undefined || ![...dynamoIdOfMemoryId.values()].includes(dynamoId),
      `${ip}: identity ${dynamoId} stands for two label sets`,
    );
    dynamoIdOfMemoryId.set(memoryId, dynamoId);
  }
  const sameIds =
    memoryId === undefined || fromDynamo.body?.identity === undefined
      ? fromDynamo
      : {
          ...fromDynamo,
          body: { ...fromDynamo.body, identity: { ...fromDynamo.body.identity, id: memoryId } },
        };
  assert.deepEqual(sameIds, fromMemory, `${ip}: the DynamoDB and in-memory readers differ`);
  if (pod === undefined) {
    assert.equal(fromDynamo.status, 404, `${ip} should be unknown, got ${JSON.stringify(fromDynamo.body)}`);
    return undefined;
  }
  assert.equal(fromDynamo.status, 200, `${ip}: ${JSON.stringify(fromDynamo.body)}`);
  assert.equal(`${fromDynamo.body.namespace}/${fromDynamo.body.pod}`, pod, ip);
  return fromDynamo.body;
}

/** The pod's current IPv4 (and IPv6) as the simulator assigned them. */
function ipsOf(sim: ClusterSimulator, namespace: string, name: string): { ip: string; ipv6?: string } {
  const pod = sim.pods.get(`${namespace}/${name}`);
  assert.ok(pod?.ip !== undefined, `${namespace}/${name} has no IP`);
  return { ip: pod.ip, ...(pod.ipv6 === undefined ? {} : { ipv6: pod.ipv6 }) };
}

describe("ipcache through ingest on DynamoDB Local", { concurrency: false }, () => {
  const sim = new ClusterSimulator();
  const startedPod = (namespace: string, name: string, node: string, dualStack = false): SimEvent[] => [
    sim.createPod(namespace, name, { app: name.replace(/-\d+$/, "") }, node),
    sim.startPod(namespace, name, { dualStack }),
    sim.setPodReady(namespace, name, true),
  ];

  it("answers the endpoint, identity and node behind a pod's IPv4 and IPv6, and a host-network pod's node IP", async () => {
    await ingest([
      sim.addNode("node-a", "zone-a"),
      sim.addNode("node-b", "zone-b"),
      sim.addNamespace("shop", { team: "storefront" }),
      sim.addNamespace("payments"),
      sim.addNamespace("kube-system"),
      sim.upsertService({
        namespace: "shop",
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      }),
      ...startedPod("shop", "web-0", "node-a"),
      ...startedPod("shop", "web-1", "node-b"),
      ...startedPod("payments", "ledger-0", "node-b", true),
      sim.createPod("kube-system", "agent", { app: "agent" }, "node-a", { hostNetwork: true }),
      sim.startPod("kube-system", "agent"),
    ]);
    const web = await assertAnswers(ipsOf(sim, "shop", "web-0").ip, "shop/web-0");
    // The whole answer, as the contract has it: the endpoint, its identity (id and labels) and its node.
    assert.ok(web !== undefined);
    assert.equal(web.hostNetwork, false);
    assert.deepEqual(web.node, { nodeName: "node-a", hostIP: sim.nodes.get("node-a")?.internalIP });
    assert.ok(Number.isInteger(web.identity?.id) && (web.identity?.id ?? 0) >= 256, JSON.stringify(web));
    assert.equal(web.identity?.labels?.["k8s:app"], "web");
    assert.equal(web.identity?.labels?.["k8s:io.kubernetes.pod.namespace"], "shop");

    const ledger = ipsOf(sim, "payments", "ledger-0");
    await assertAnswers(ledger.ip, "payments/ledger-0");
    assert.ok(ledger.ipv6 !== undefined);
    const v6 = await assertAnswers(ledger.ipv6, "payments/ledger-0");
    // Any spelling of the address finds the canonical one the writer indexed.
    const spelled = ledger.ipv6.replace("fd00::", "FD00:0:0:0:0:0:0:");
    assert.deepEqual(await assertAnswers(spelled, "payments/ledger-0"), v6);
    const agent = await assertAnswers(sim.nodes.get("node-a")?.internalIP as string, "kube-system/agent");
    assert.equal(agent?.hostNetwork, true);
    await assertAnswers("10.250.0.1", undefined);

    // The real API handler serves the same answer from the tables in its environment.
    const served = (await apiHandler(
      apiEvent(`/v1/ipcache/${ledger.ip}`),
      lambdaContext("api"),
    )) as APIGatewayProxyStructuredResultV2;
    assert.equal(served.statusCode, 200);
    assert.equal(JSON.parse(served.body ?? "").pod, "ledger-0");
  });

  it("forgets the IP of a finished pod, of a pod that lost it, and of a deleted pod", async () => {
    const finished = ipsOf(sim, "shop", "web-1").ip;
    await ingest([sim.finishPod("shop", "web-1", "Succeeded")]);
    await assertAnswers(finished, undefined);

    const lost = ipsOf(sim, "shop", "web-0").ip;
    const pod = sim.pods.get("shop/web-0");
    assert.ok(pod !== undefined);
    pod.ip = undefined; // the sandbox is gone: the kubelet reports the pod without an IP
    await ingest([sim.setPodReady("shop", "web-0", false)]);
    await assertAnswers(lost, undefined);

    const deleted = ipsOf(sim, "payments", "ledger-0");
    await ingest([sim.terminatePod("payments", "ledger-0")]);
    await assertAnswers(deleted.ip, "payments/ledger-0"); // a terminating pod keeps its IP until it is gone
    await ingest([sim.deletePod("payments", "ledger-0")]);
    await assertAnswers(deleted.ip, undefined);
    await assertAnswers(deleted.ipv6 as string, undefined);
  });

  it("answers the new pod for a reused IP while the old pod's deletion is late, in either delivery order", async () => {
    // shop/old holds the IP; it is deleted and payments/new gets the IP. The old pod's DELETED
    // event is delivered last: until then both pod items carry the IP.
    const oldPod = startedPod("shop", "old-0", "node-a");
    const reused = ipsOf(sim, "shop", "old-0").ip;
    const deleteOld = sim.deletePod("shop", "old-0");
    const newPod = [sim.createPod("payments", "new-0", { app: "new" }, "node-b")];
    const started = sim.pods.get("payments/new-0");
    assert.ok(started !== undefined);
    newPod.push(sim.startPod("payments", "new-0"));
    started.ip = reused; // the IPAM handed the freed address out again
    newPod.push(sim.setPodReady("payments", "new-0", true));

    await ingest(oldPod);
    await assertAnswers(reused, "shop/old-0");
    await ingest(newPod);
    await assertAnswers(reused, "payments/new-0");
    await ingest([deleteOld]);
    await assertAnswers(reused, "payments/new-0");

    // The other order: the new pod's events arrive before the old pod's (older) ones.
    const laterPod = startedPod("shop", "late-0", "node-a");
    const again = ipsOf(sim, "shop", "late-0").ip;
    const deleteLate = sim.deletePod("shop", "late-0");
    const successor = [sim.createPod("payments", "next-0", { app: "next" }, "node-b")];
    const next = sim.pods.get("payments/next-0");
    assert.ok(next !== undefined);
    successor.push(sim.startPod("payments", "next-0"));
    next.ip = again;
    successor.push(sim.setPodReady("payments", "next-0", true));
    await ingest(successor);
    await assertAnswers(again, "payments/next-0");
    await ingest(laterPod);
    await assertAnswers(again, "payments/next-0");
    await ingest([deleteLate]);
    await assertAnswers(again, "payments/next-0");
  });
});

function apiEvent(rawPath: string): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString: "",
    headers: { accept: "application/json", host: "127.0.0.1" },
    requestContext: {
      accountId: "123456789012",
      apiId: "local",
      domainName: "127.0.0.1",
      domainPrefix: "local",
      http: { method: "GET", path: rawPath, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "test" },
      requestId: "ipcache-request",
      routeKey: "$default",
      stage: "$default",
      time: "25/Nov/2026:12:01:00 +0000",
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}
