/**
 * Reads the pipeline's per-minute counters from the state table (stats#<minute> / #counts,
 * documented in shared/config/table-schemas.ts; pipeline-counts-recorder.ts writes them): one
 * BatchGetItem of the wanted minutes' keys, no scan.
 */
import { BatchGetCommand } from "@aws-sdk/lib-dynamodb";
import {
  PIPELINE_COUNTERS,
  type PipelineCounts,
  type PipelineCountsSource,
} from "#shared/pipeline/pipeline-counts.ts";
import { pipelineCountsKey } from "./items.ts";
import type { StateTableAccess } from "./state-table.ts";

/** BatchGetItem answers at most 100 keys; /v1/stats asks for six. */
const MAX_KEYS = 100;
/** Rounds of UnprocessedKeys retried before giving up (a throttled read: the caller answers 429). */
const MAX_ROUNDS = 3;

/** Some minutes stayed unprocessed round after round: the table is throttling reads. */
export class PipelineCountsUnreadError extends Error {
  override readonly name = "PipelineCountsUnreadError";
}

export interface DynamoPipelineCountsReaderOptions extends StateTableAccess {
  /** Strongly consistent reads (default false: the counts are advisory). */
  readonly consistentRead?: boolean;
}

export class DynamoPipelineCountsReader implements PipelineCountsSource {
  readonly #options: DynamoPipelineCountsReaderOptions;

  constructor(options: DynamoPipelineCountsReaderOptions) {
    this.#options = options;
  }

  async pipelineCountsOf(minutes: readonly number[]): Promise<ReadonlyMap<number, PipelineCounts>> {
    const wanted = [...new Set(minutes)];
    if (wanted.length > MAX_KEYS) throw new RangeError(`at most ${MAX_KEYS} minutes at once`);
    const found = new Map<number, PipelineCounts>();
    const table = this.#options.stateTable;
    const minuteByPk = new Map(wanted.map((minute) => [pipelineCountsKey(minute).pk, minute]));
    let keys: Array<Record<string, unknown>> = wanted.map((minute) => ({ ...pipelineCountsKey(minute) }));
    for (let round = 0; keys.length > 0; round++) {
      if (round === MAX_ROUNDS) {
        throw new PipelineCountsUnreadError(
          `${keys.length} counter items left unprocessed after ${round} rounds`,
        );
      }
      const result = await this.#options.documents.send(
        new BatchGetCommand({
          RequestItems: {
            [table]: { Keys: keys, ConsistentRead: this.#options.consistentRead ?? false },
          },
        }),
      );
      for (const item of result.Responses?.[table] ?? []) {
        const minute = minuteByPk.get(String(item.pk));
        if (minute !== undefined) found.set(minute, countsFrom(item));
      }
      keys = (result.UnprocessedKeys?.[table]?.Keys ?? []) as Array<Record<string, unknown>>;
    }
    return found;
  }
}

function countsFrom(item: Record<string, unknown>): PipelineCounts {
  const counts: PipelineCounts = {};
  for (const counter of PIPELINE_COUNTERS) {
    const value = Number(item[counter] ?? 0);
    if (value > 0) counts[counter] = value;
  }
  return counts;
}
