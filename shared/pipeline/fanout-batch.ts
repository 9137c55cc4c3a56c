/**
 * One stream batch of the slices table through the fan-out, storage- and AWS-agnostic (the
 * counterpart of ingest-batch.ts): read each record's change, append it to the watch's change
 * log, publish it to the watchers' scopes, count what went out, and say which records must be
 * retried. Two formats (SLICELINE_FANOUT_FORMAT):
 *   - "bundles" (default): the whole batch at once, one ChangeBundle of deltas per scope
 *     (shared/fanout/change-bundle.ts). Stream batches are ordered per shard, so a failure is
 *     reported from the first record that could not go out (a malformed one, or the first carried
 *     by a message that failed to publish) to the end of the batch: Lambda retries from there,
 *     bisecting on repeat.
 *   - "objects": one message per change and scope; records go out one by one (concurrently) and
 *     each fails alone, so a bad record is retried (then bisected, then sent to the failure
 *     destination) without holding up the shard.
 *
 * The order is the contract: a change is in the change log before it is published, so a watch
 * (docs/watch.md) can never miss what a watcher queue was sent. In "bundles" a log write that
 * fails fails the whole batch (thrown) before any message goes out; in "objects" it fails its
 * record. Counting is advisory: the messages are out, and failing the batch for a count would
 * only deliver them again.
 */
import type { FanoutFormat } from "#shared/config/resources.ts";
import { bundleMessages, coalesceChanges, type RecordChange } from "#shared/fanout/bundle-publisher.ts";
import { type ChangeLogWriter, changeLogEntry } from "#shared/fanout/change-log.ts";
import {
  type BodiesPublished,
  type ChangePublisher,
  publishMessages,
} from "#shared/fanout/change-publisher.ts";
import { type ObjectChange, routeChange } from "#shared/fanout/change-routing.ts";
import { objectChangeFromImages, type SliceItemImage } from "#shared/fanout/stored-change.ts";
import {
  fanoutCounts,
  type PipelineCountsRecorder,
  recordPipelineCountsAdvisory,
} from "./pipeline-counts.ts";

/** A stream record as the fan-out needs it. */
export interface FanoutRecord {
  readonly sequenceNumber: string;
  /** When the stream saw the record: a deletion's version is minted from it. */
  readonly recordTimeMs: number;
  /** The old and new item images; may throw on a record that is not one (it is then malformed). */
  readonly images: () => {
    readonly old: SliceItemImage | undefined;
    readonly new: SliceItemImage | undefined;
  };
}

/** Who receives what a topic is sent: deliveries are publishes times subscribers. */
export interface TopicSubscribers {
  subscribers(topicArn: string): Promise<number>;
}

export interface FanoutBatchDeps {
  readonly format: FanoutFormat;
  readonly publisher: ChangePublisher;
  /** Absent: nothing is logged (a deployment without the watch's change log). */
  readonly changeLog?: ChangeLogWriter | undefined;
  readonly audience: TopicSubscribers;
  /** The counters /v1/stats serves rates from; absent: not counted. */
  readonly pipelineCounts?: PipelineCountsRecorder | undefined;
  readonly zones: readonly string[];
  /** Scopes that have a topic; bundles for any other scope are not built. */
  readonly scopes: ReadonlySet<string>;
  readonly now: () => number;
}

/** Something that went wrong without failing the batch as a whole, for the logs. */
export type FanoutProblem =
  /** A record whose images are not a slice change ("bundles": it and every later record are retried). */
  | { readonly kind: "malformed record"; readonly sequenceNumber: string; readonly error: unknown }
  /** A record that could not go out ("objects"; retried alone). */
  | { readonly kind: "record failed"; readonly sequenceNumber: string; readonly error: unknown }
  /** Bundles the publisher refused ("bundles"; retried from the first record they carry). */
  | { readonly kind: "bundles not published"; readonly errors: readonly string[] }
  | { readonly kind: "deliveries not counted"; readonly error: unknown }
  | { readonly kind: "pipeline counts not recorded"; readonly error: unknown };

export interface FanoutOutcome {
  /** Sequence numbers to report as batch item failures. */
  readonly failedSequenceNumbers: string[];
  /** Entries appended to the change log. */
  readonly logged: number;
  /** Messages that went out, and their bytes. */
  readonly published: number;
  readonly bytes: number;
  /** Messages and bytes times each topic's subscribers; undefined when they could not be counted. */
  readonly delivered: { readonly deliveries: number; readonly bytes: number } | undefined;
  /** "bundles": the changes the published bundles carried (a change goes to several scopes). */
  readonly bundled: number | undefined;
  /** The changes that went out: propagation latency is measured from their source times. */
  readonly sent: readonly ObjectChange[];
  readonly problems: readonly FanoutProblem[];
}

/** What publishing a batch achieved, whichever the format. */
interface Sent {
  readonly failedSequenceNumbers: string[];
  readonly logged: number;
  readonly totals: { published: number; bytes: number; readonly byTopic: BodiesPublished["byTopic"] };
  readonly bundled: number | undefined;
  readonly sent: ObjectChange[];
  readonly problems: FanoutProblem[];
}

export async function fanOutBatch(
  records: readonly FanoutRecord[],
  deps: FanoutBatchDeps,
): Promise<FanoutOutcome> {
  const sent =
    deps.format === "bundles" ? await fanOutBundles(records, deps) : await fanOutObjects(records, deps);
  const problems = [...sent.problems];
  let delivered: FanoutOutcome["delivered"];
  try {
    delivered = await countDeliveries(sent.totals.byTopic, deps.audience);
  } catch (error) {
    problems.push({ kind: "deliveries not counted", error });
  }
  const { totals, ...rest } = sent;
  const { published, bytes } = totals;
  await recordPipelineCountsAdvisory(
    deps.pipelineCounts,
    deps.now(),
    fanoutCounts({ streamRecords: records.length, published, bytes, deliveries: delivered?.deliveries ?? 0 }),
    (error) => problems.push({ kind: "pipeline counts not recorded", error }),
  );
  return { ...rest, published, bytes, delivered, problems };
}

async function fanOutBundles(records: readonly FanoutRecord[], deps: FanoutBatchDeps): Promise<Sent> {
  const problems: FanoutProblem[] = [];
  const changes: RecordChange[] = [];
  let failFrom = records.length;
  for (const [index, record] of records.entries()) {
    try {
      changes.push({ change: changeOf(record), record: index });
    } catch (error) {
      problems.push({ kind: "malformed record", sequenceNumber: record.sequenceNumber, error });
      failFrom = index;
      break;
    }
  }
  const logged = await appendToChangeLog(
    changes.map(({ change, record }) => ({
      change,
      recordTimeMs: records[record]?.recordTimeMs ?? deps.now(),
    })),
    deps,
  );
  const messages = bundleMessages(coalesceChanges(changes), deps.zones, deps.scopes);
  const published = await deps.publisher.publishBodies(messages);
  if (published.failed.length > 0) problems.push({ kind: "bundles not published", errors: published.errors });
  for (const index of published.failed) failFrom = Math.min(failFrom, messages[index]?.firstRecord ?? 0);
  return {
    failedSequenceNumbers: records.slice(failFrom).map((record) => record.sequenceNumber),
    logged,
    totals: published,
    bundled: messages.reduce((sum, message) => sum + message.changes, 0),
    sent: changes.filter(({ record }) => record < failFrom).map(({ change }) => change),
    problems,
  };
}

async function fanOutObjects(records: readonly FanoutRecord[], deps: FanoutBatchDeps): Promise<Sent> {
  let logged = 0;
  const outcomes = await Promise.all(
    records.map(async (record) => {
      try {
        const change = changeOf(record);
        // Not `logged += await`: that reads `logged` before the await, losing concurrent records.
        const appended = await appendToChangeLog([{ change, recordTimeMs: record.recordTimeMs }], deps);
        logged += appended;
        return { change, published: await publishMessages(deps.publisher, routeChange(change, deps.zones)) };
      } catch (error) {
        return { error };
      }
    }),
  );
  const sent: Sent = {
    failedSequenceNumbers: [],
    logged,
    totals: { published: 0, bytes: 0, byTopic: new Map() },
    bundled: undefined,
    sent: [],
    problems: [],
  };
  for (const [index, outcome] of outcomes.entries()) {
    const sequenceNumber = records[index]?.sequenceNumber ?? "";
    if ("error" in outcome) {
      sent.failedSequenceNumbers.push(sequenceNumber);
      sent.problems.push({ kind: "record failed", sequenceNumber, error: outcome.error });
      continue;
    }
    sent.sent.push(outcome.change);
    addPublished(sent.totals, outcome.published);
  }
  return sent;
}

function addPublished(sum: Sent["totals"], more: Sent["totals"]): void {
  sum.published += more.published;
  sum.bytes += more.bytes;
  for (const [topic, totals] of more.byTopic) {
    const before = sum.byTopic.get(topic) ?? { published: 0, bytes: 0 };
    sum.byTopic.set(topic, {
      published: before.published + totals.published,
      bytes: before.bytes + totals.bytes,
    });
  }
}

/** Each topic's messages and bytes times its subscribers. */
async function countDeliveries(
  byTopic: BodiesPublished["byTopic"],
  audience: TopicSubscribers,
): Promise<{ deliveries: number; bytes: number }> {
  let deliveries = 0;
  let bytes = 0;
  for (const [topicArn, topic] of byTopic) {
    const subscribers = await audience.subscribers(topicArn);
    deliveries += topic.published * subscribers;
    bytes += topic.bytes * subscribers;
  }
  return { deliveries, bytes };
}

function changeOf(record: FanoutRecord): ObjectChange {
  const images = record.images();
  return objectChangeFromImages(images.old, images.new);
}

async function appendToChangeLog(
  changes: ReadonlyArray<{ readonly change: ObjectChange; readonly recordTimeMs: number }>,
  deps: FanoutBatchDeps,
): Promise<number> {
  if (deps.changeLog === undefined || changes.length === 0) return 0;
  const entries = changes.map(({ change, recordTimeMs }) => changeLogEntry(change, recordTimeMs));
  await deps.changeLog.append(entries, deps.now());
  return entries.length;
}
