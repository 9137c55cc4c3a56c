/**
 * "sliceline-best": the pipeline as designed. The core takes the trace in ingest batches (one per
 * batching window); each batch's slice writes reach the fan-out as stream batches of up to
 * `fanoutBatchSize` records, and each stream batch goes out as one delta bundle per scope
 * (change-bundle.ts, slice-delta.ts). Every watcher is a zone-only node agent (Cilium kinds and its
 * zone's EndpointSlices), so it subscribes to its zone's Agent@<zone> scope alone and receives at
 * most one message per stream batch, of the bundle's JSON size, exactly as the fan-out function cuts
 * it (bundle-publisher.ts: changes of one object merged, one bundle per scope, split under 256 KiB).
 *
 * "sliceline-best-all-zones" (zoneOnly false): the same pipeline to agents that take what the
 * baselines deliver, every endpoint of every Service: Cilium kinds and whole EndpointSlices, on the
 * Cilium and EndpointSlice scopes (two bundles per stream batch), so the comparison with the
 * baselines is at the same scope.
 *
 * AWS requests are counted as the pipeline would make them; every assumption is listed in the notes.
 */
import type { ReplayBatch } from "#scripts/bench/model/core-replay.ts";
import {
  changeLogWriteUnits,
  ingestWriteUnits,
  type TouchedRecord,
} from "#scripts/bench/model/store-write-units.ts";
import { FleetTally, RelistSchedule, type StrategyRun } from "#scripts/bench/model/strategy-run.ts";
import type { Trace } from "#scripts/bench/types.ts";
import { type KeyedWriteUnits, WriteUnitLedger } from "#scripts/bench/write-units.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { type ObjectWrite, OUTPUT_KINDS, type OutputObject } from "#shared/core/output-changes.ts";
import { bundleMessages, coalesceChanges, type RecordChange } from "#shared/fanout/bundle-publisher.ts";
import { MAX_MESSAGE_BYTES } from "#shared/fanout/change-publisher.ts";
import {
  agentScope,
  CILIUM_SCOPE,
  ENDPOINT_SLICE_SCOPE,
  scopesForWatcher,
  zoneScope,
} from "#shared/fanout/change-routing.ts";
import { changesOfBody } from "#shared/watcher/change-body.ts";

export interface SlicelineOptions {
  /** Records per fan-out invocation (the stream event source's batch size; infra default 100). */
  readonly fanoutBatchSize: number;
  /** How long the producer gathers events into one SQS message body (ms). */
  readonly producerFlushMs: number;
  readonly batchWindowMs: number;
  /** Agents take their zone's EndpointSlice views (default) or whole EndpointSlices, as the baselines. */
  readonly zoneOnly: boolean;
}

export const DEFAULT_SLICELINE_OPTIONS: SlicelineOptions = {
  fanoutBatchSize: 100,
  producerFlushMs: 100,
  batchWindowMs: 1000,
  zoneOnly: true,
};

const KB = 1024;
const SQS_CHUNK = 64 * KB;
/** Receive and delete calls take up to 10 messages. */
const SQS_BATCH = 10;

export function slicelineBest(
  trace: Trace,
  options: SlicelineOptions = DEFAULT_SLICELINE_OPTIONS,
): { run: StrategyRun; onBatch(batch: ReplayBatch): void; finish(): void } {
  const zones = trace.scenario.zones;
  const watchers = trace.scenario.watchers;
  const tally = new FleetTally(zones.length);
  const zoneOnly = options.zoneOnly;
  const relists = new RelistSchedule(trace);
  /** Each zone's node agents' one scope, as the registry subscribes them (change-routing.ts). */
  const scopeZone = new Map<string, number>(
    zoneOnly ? zones.map((zone, index) => [onlyScope(scopesForWatcher(AGENT_KINDS, zone, true)), index]) : [],
  );
  /** An all-zones agent's scopes (Cilium, EndpointSlice): every watcher takes every bundle of them. */
  const everyWatcherScopes = new Set(zoneOnly ? [] : scopesForWatcher(AGENT_KINDS, undefined, false));
  /** The stored image of every slice and identity: the stream record's old image. */
  const live = new Map<string, OutputObject>();
  /** Bytes of each object's view per scope a watcher lists: Cilium, or a zone's EndpointSlice view. */
  const listedBytes = new Map<string, { scope: number; bytes: number }[]>();
  const requests = new Map<string, number>();
  const count = (name: string, n: number) => requests.set(name, (requests.get(name) ?? 0) + n);
  /** DynamoDB write units of the measured batches by the partition key they land on. */
  const writeUnitsByKey = new WriteUnitLedger();
  const countWriteUnits = (units: readonly KeyedWriteUnits[]) => {
    writeUnitsByKey.add(units);
    count(
      "dynamodb.writeUnits",
      units.reduce((sum, entry) => sum + entry.units, 0),
    );
  };
  /** Bytes delivered by the kind of change they carry, for the note on where the bytes go. */
  const bytesByScope = { cilium: 0, zone: 0 };
  const notes: string[] = [
    `Latency: the batching window only (a change waits for its ${options.batchWindowMs} ms window to close); Lambda, DynamoDB and SNS/SQS times are not modelled here; the live pass measures them.`,
    `Fan-out: ${options.fanoutBatchSize} stream records per invocation, one bundle per scope per invocation (split at 256 KiB), published to every scope's topic as the fan-out does (EndpointSlice, Cilium, EndpointSlice@<zone>, Agent@<zone>), subscribed or not; ${options.zoneOnly ? `every watcher is a zone-only node agent on its zone's ${agentScope("<zone>")} scope (Cilium kinds and its zone's EndpointSlice views in one bundle), so only those bundles are delivered` : `every watcher takes the ${CILIUM_SCOPE} and ${ENDPOINT_SLICE_SCOPE} scopes (whole EndpointSlices, what the baselines deliver), so each stream batch is two bundles to every watcher`}.`,
    `SQS ingest: the producer sends one {"events": [...]} body per ${options.producerFlushMs} ms (split at 256 KiB); one ReceiveMessage and one DeleteMessageBatch per 10 messages; idle long polls not counted.`,
    "Lambda: one ingest invocation per batching window with events; one fan-out invocation (and one stream GetRecords, free for Lambda triggers) per stream batch.",
    "DynamoDB write units (model/store-write-units.ts, priced as the live pass prices them: write-units.ts): one TransactWriteItems per namespace group per batch at 2 WCU per started KB per item (group meta, each changed pod/Service/Namespace record at ≤1 KB, each slice/identity write as the adapter's item, once more on each index that copies whole items, an entry on a keys-only index when it creates or deletes the object; each identity reference-count update and each ConditionCheck the store's plan of the commit carries, a check billed as a transactional write of its item); each Node event is a 1-WCU conditional put; each stream record's change-log entry as the fan-out's item (BatchWriteItem, 1 WCU per KB); identity allocation and redo-log commits over 100 items are not counted. The busiest partition key's units are the capacity check's demand.",
    "Watchers: each delivered message is one SNS->SQS delivery, one ReceiveMessage and one DeleteMessage (no batching across messages: an upper bound at ~1 message per second).",
    `Re-list: every CES and identity plus ${options.zoneOnly ? "the watcher's zone view of every EndpointSlice" : "every EndpointSlice"}, as stored at re-list time.`,
  ];

  const snapshot = (zone: number) => {
    let objects = 0;
    let bytes = 0;
    for (const views of listedBytes.values()) {
      for (const view of views) {
        if (view.scope === -1 || view.scope === zone) {
          objects++;
          bytes += view.bytes;
        }
      }
    }
    return { objects, bytes };
  };

  const track = (
    write: ObjectWrite,
  ): { before: OutputObject | undefined; after: OutputObject | undefined } => {
    const key = `${write.kind}/${write.object.metadata.namespace ?? ""}/${write.object.metadata.name}`;
    const before = live.get(key);
    const after = write.op === "delete" ? undefined : write.object;
    if (after === undefined) {
      live.delete(key);
      listedBytes.delete(key);
    } else {
      live.set(key, after);
      listedBytes.set(key, listedViews(after, zoneOnly ? zones : []));
    }
    return { before, after };
  };

  /**
   * Every scope with a topic (infra/constructs/change-topics.ts): the fan-out publishes to each,
   * whether anyone subscribed or not, so each is a billed publish; only agent scopes are delivered.
   */
  const topicScopes = new Set([
    ENDPOINT_SLICE_SCOPE,
    CILIUM_SCOPE,
    ...zones.flatMap((zone) => [zoneScope(zone), agentScope(zone)]),
  ]);
  /** One stream batch through the fan-out's own bundling (bundle-publisher.ts). */
  const publishChunk = (atMs: number, writes: readonly ObjectWrite[]) => {
    const changes: RecordChange[] = writes.map((write, record) => {
      const { before, after } = track(write);
      tally.latencies.push(atMs - write.sourceTimeMs);
      return { change: { kind: write.kind, before, after, sourceTimeMs: write.sourceTimeMs }, record };
    });
    countWriteUnits(
      changeLogWriteUnits(
        changes.map(({ change }) => change),
        atMs,
      ),
    );
    for (const message of bundleMessages(coalesceChanges(changes), zones, topicScopes)) {
      const bytes = Buffer.byteLength(message.body);
      count("sns.publish", 1);
      count("sns.publish64kChunks", Math.ceil(bytes / SQS_CHUNK));
      const zone = scopeZone.get(message.scope);
      const everyWatcher = everyWatcherScopes.has(message.scope);
      if (zone === undefined && !everyWatcher) continue;
      const audience = zone === undefined ? watchers : zoneWatchers(watchers, zones.length, zone);
      count("sqs.watcher.deliveries", audience);
      count("sqs.watcher.receive", audience);
      count("sqs.watcher.delete", audience);
      if (zone === undefined) tally.broadcast(atMs, 1, bytes);
      else tally.toZone(zone, atMs, 1, bytes);
      const split = bytesByKind(message.body);
      bytesByScope.zone += split.zone * audience;
      bytesByScope.cilium += split.cilium * audience;
    }
  };

  const countIngest = (batch: ReplayBatch) => {
    // The producer sends one body per flush interval ({"events": [...]}, split at 256 KiB).
    const flushes = new Map<number, number>();
    for (let i = batch.from; i < batch.to; i++) {
      const event = trace.events[i];
      if (event === undefined) continue;
      const flush = Math.floor(event.atMs / options.producerFlushMs);
      flushes.set(flush, (flushes.get(flush) ?? 0) + Buffer.byteLength(JSON.stringify(event.event)) + 1);
    }
    let messages = 0;
    for (const bytes of flushes.values()) {
      const bodies = Math.ceil(bytes / MAX_MESSAGE_BYTES);
      messages += bodies;
      count("sqs.ingest.send64kChunks", Math.ceil(bytes / SQS_CHUNK));
    }
    count("sqs.ingest.sendMessage", messages);
    count("sqs.ingest.receive", Math.ceil(messages / SQS_BATCH));
    count("sqs.ingest.deleteBatch", Math.ceil(messages / SQS_BATCH));
    count("lambda.ingest.invocations", 1);
    countWriteUnits(ingestWriteUnits(touchedRecords(trace, batch), batch.report.writes, batch.commits));
  };

  return {
    run: {
      strategy: zoneOnly ? "sliceline-best" : "sliceline-best-all-zones",
      description: zoneOnly
        ? `sliceline: ${options.batchWindowMs} ms ingest batches, delta bundles per scope per stream batch; agents take Cilium + their zone's EndpointSlices in one Agent@<zone> bundle`
        : `sliceline at the baselines' scope: ${options.batchWindowMs} ms ingest batches, delta bundles per scope per stream batch; agents take Cilium + whole EndpointSlices (two bundles per stream batch)`,
      tally,
      notes,
      awsRequests(podChanges) {
        const perPodChange: Record<string, number> = {};
        const busiest = writeUnitsByKey.busiest(1)[0];
        if (busiest !== undefined) requests.set("dynamodb.busiestKeyWriteUnits", busiest.units);
        for (const [name, value] of [...requests].sort(([a], [b]) => a.localeCompare(b))) {
          perPodChange[name] = podChanges === 0 ? 0 : Math.round((value / podChanges) * 10_000) / 10_000;
        }
        return perPodChange;
      },
    },
    onBatch(batch) {
      if (!batch.measured) {
        for (const write of batch.report.writes) track(write);
        return;
      }
      relists.runDue(batch.atMs, tally, watchers, snapshot);
      countIngest(batch);
      const writes = batch.report.writes;
      tally.objectWrites += writes.length;
      for (let i = 0; i < writes.length; i += options.fanoutBatchSize) {
        count("lambda.fanout.invocations", 1);
        count("dynamodb.streamGetRecords", 1);
        publishChunk(batch.atMs, writes.slice(i, i + options.fanoutBatchSize));
      }
    },
    finish() {
      relists.runDue(Number.POSITIVE_INFINITY, tally, watchers, snapshot);
      const podChanges = trace.podChanges;
      if (podChanges > 0 && writeUnitsByKey.total > 0)
        notes.push(
          `DynamoDB write units per pod change on the busiest partition keys: ${writeUnitsByKey
            .busiest(3)
            .map(({ key, units }) => `${key} ${(units / podChanges).toFixed(2)}`)
            .join(
              ", ",
            )} (of ${(writeUnitsByKey.total / podChanges).toFixed(2)} in all); by kind of key: ${writeUnitsByKey
            .byKind()
            .map(({ key, units }) => `${key} ${(units / podChanges).toFixed(2)}`)
            .join(", ")}.`,
        );
      const total = bytesByScope.cilium + bytesByScope.zone;
      if (total > 0) {
        notes.push(
          `Measured in this pass: of the change bytes in the agent bundles delivered to watchers, ${Math.round((bytesByScope.zone / total) * 100)}% are EndpointSlice zone views (item-only changes as patches on the zone view's content digest, slice-delta.ts) and ${Math.round((bytesByScope.cilium / total) * 100)}% are CiliumEndpointSlice and CiliumIdentity changes.`,
        );
      }
    },
  };
}

const AGENT_KINDS = OUTPUT_KINDS;

function onlyScope(scopes: readonly string[]): string {
  if (scopes.length !== 1) throw new Error(`a node agent has one scope, not ${scopes.join(", ")}`);
  return scopes[0] as string;
}

/** A bundle's change bytes by kind: EndpointSlice zone views, and the Cilium kinds. */
function bytesByKind(body: string): { zone: number; cilium: number } {
  const split = { zone: 0, cilium: 0 };
  for (const change of changesOfBody(body)) {
    const bytes = Buffer.byteLength(JSON.stringify(change));
    if (change.kind === "EndpointSlice") split.zone += bytes;
    else split.cilium += bytes;
  }
  return split;
}

function zoneWatchers(watchers: number, zones: number, zone: number): number {
  return Math.floor(watchers / zones) + (zone < watchers % zones ? 1 : 0);
}

/**
 * The views of an object a watcher lists: scope -1 for what every watcher lists (Cilium kinds; whole
 * slices when `zones` is empty, the all-zones agents), the zone index for a slice's zone view.
 */
function listedViews(object: OutputObject, zones: readonly string[]): { scope: number; bytes: number }[] {
  if (object.kind !== "EndpointSlice" || zones.length === 0)
    return [{ scope: -1, bytes: Buffer.byteLength(JSON.stringify(object)) }];
  const slice = object as EndpointSlice;
  const views: { scope: number; bytes: number }[] = [];
  for (const [index, zone] of zones.entries()) {
    const endpoints = slice.endpoints.filter((endpoint) => endpoint.zone === zone);
    if (endpoints.length > 0) {
      views.push({ scope: index, bytes: Buffer.byteLength(JSON.stringify({ ...slice, endpoints })) });
    }
  }
  return views;
}

/** The Nodes and namespace-group records one ingest batch's events touched. */
function touchedRecords(trace: Trace, batch: ReplayBatch): TouchedRecord[] {
  const touched: TouchedRecord[] = [];
  for (let i = batch.from; i < batch.to; i++) {
    const object = trace.events[i]?.event.object as {
      kind?: string;
      metadata?: { name?: string; namespace?: string };
    };
    const name = object.metadata?.name ?? "";
    if (object.kind === "Node") touched.push({ kind: "Node", name });
    else if (object.kind === "Namespace") touched.push({ kind: "Namespace", namespace: name, name });
    else
      touched.push({
        kind: object.kind === "Service" ? "Service" : "Pod",
        namespace: object.metadata?.namespace ?? "",
        name,
      });
  }
  return touched;
}
