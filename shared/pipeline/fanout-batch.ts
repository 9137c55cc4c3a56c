/**
 * One stream batch of the slices table through the fan-out in the "bundles" format, storage- and
 * AWS-agnostic (the counterpart of ingest-batch.ts): read each record's change, append them all
 * to the watch's change log, coalesce, bundle per scope and publish, and say which records must be
 * retried. Stream batches are ordered per shard, so a failure is reported from the first record
 * that could not go out to the end of the batch: Lambda retries from there, bisecting on repeat.
 *
 * The order is the contract: the change log is written before anything is published, so a watch
 * (docs/watch.md) can never miss what a watcher queue was sent; a log write that fails fails the
 * whole batch (thrown), before any message goes out.
 */
import { bundleMessages, coalesceChanges, type RecordChange } from "#shared/fanout/bundle-publisher.ts";
import { type ChangeLogWriter, changeLogEntry } from "#shared/fanout/change-log.ts";
import type { BodiesPublished, ChangePublisher } from "#shared/fanout/change-publisher.ts";
import type { ObjectChange } from "#shared/fanout/change-routing.ts";
import { objectChangeFromImages, type SliceItemImage } from "#shared/fanout/stored-change.ts";

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

export interface FanoutBatchDeps {
  readonly publisher: ChangePublisher;
  /** Absent: nothing is logged (a deployment without the watch's change log). */
  readonly changeLog?: ChangeLogWriter | undefined;
  readonly zones: readonly string[];
  /** Scopes that have a topic; bundles for any other scope are not built. */
  readonly scopes: ReadonlySet<string>;
  readonly now: () => number;
  /** A record whose images are not a slice change: it and every later record are retried. */
  readonly onMalformed: (sequenceNumber: string, error: unknown) => void;
}

export interface FanoutBatchResult {
  /** Sequence numbers to report as batch item failures (a suffix of the batch, maybe empty). */
  readonly failedSequenceNumbers: string[];
  readonly published: BodiesPublished;
  /** Changes read, each with whether it went out (it is before the first failed record). */
  readonly changes: ReadonlyArray<{ readonly change: ObjectChange; readonly delivered: boolean }>;
  /** Entries appended to the change log. */
  readonly logged: number;
  /** Changes carried by the published bundles (a change goes to several scopes). */
  readonly bundled: number;
}

export async function fanOutBundleBatch(
  records: readonly FanoutRecord[],
  deps: FanoutBatchDeps,
): Promise<FanoutBatchResult> {
  const changes: RecordChange[] = [];
  let failFrom = records.length;
  for (const [index, record] of records.entries()) {
    try {
      const images = record.images();
      changes.push({ change: objectChangeFromImages(images.old, images.new), record: index });
    } catch (error) {
      deps.onMalformed(record.sequenceNumber, error);
      failFrom = index;
      break;
    }
  }
  const logged = await appendToChangeLog(changes, records, deps);
  const messages = bundleMessages(coalesceChanges(changes), deps.zones, deps.scopes);
  const published = await deps.publisher.publishBodies(messages);
  for (const index of published.failed) failFrom = Math.min(failFrom, messages[index]?.firstRecord ?? 0);
  return {
    failedSequenceNumbers: records.slice(failFrom).map((record) => record.sequenceNumber),
    published,
    changes: changes.map(({ change, record }) => ({ change, delivered: record < failFrom })),
    logged,
    bundled: messages.reduce((sum, message) => sum + message.changes, 0),
  };
}

async function appendToChangeLog(
  changes: readonly RecordChange[],
  records: readonly FanoutRecord[],
  deps: FanoutBatchDeps,
): Promise<number> {
  if (deps.changeLog === undefined || changes.length === 0) return 0;
  const entries = changes.map(({ change, record }) =>
    changeLogEntry(change, records[record]?.recordTimeMs ?? deps.now()),
  );
  await deps.changeLog.append(entries, deps.now());
  return entries.length;
}
