/**
 * Records the pipeline's per-minute counters in the state table (stats#<minute> / #counts,
 * documented in shared/config/table-schemas.ts): one UpdateItem ADD per invocation, which also
 * sets the item to expire an hour after its minute. The reading side is pipeline-counts-reader.ts,
 * a file of its own so a handler's bundle holds only the command it is granted.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { TABLE_KEYS } from "#shared/config/resources.ts";
import {
  MINUTE_MS,
  nonZeroCounts,
  type PipelineCounts,
  type PipelineCountsRecorder,
} from "#shared/pipeline/pipeline-counts.ts";
import { PIPELINE_COUNTS_RETENTION_SECONDS, pipelineCountsKey } from "./items.ts";
import type { StateTableAccess } from "./state-table.ts";

export type DynamoPipelineCountsRecorderOptions = StateTableAccess;

export class DynamoPipelineCountsRecorder implements PipelineCountsRecorder {
  readonly #options: DynamoPipelineCountsRecorderOptions;

  constructor(options: DynamoPipelineCountsRecorderOptions) {
    this.#options = options;
  }

  async recordPipelineCounts(minute: number, counts: PipelineCounts): Promise<void> {
    const added = nonZeroCounts(counts);
    if (added.length === 0) return;
    const names: Record<string, string> = { "#ttl": TABLE_KEYS.timeToLive };
    const values: Record<string, number> = {
      ":ttl": Math.ceil(((minute + 1) * MINUTE_MS) / 1000) + PIPELINE_COUNTS_RETENTION_SECONDS,
    };
    for (const [i, [counter, value]] of added.entries()) {
      names[`#c${i}`] = counter;
      values[`:c${i}`] = value;
    }
    await this.#options.documents.send(
      new UpdateCommand({
        TableName: this.#options.stateTable,
        Key: pipelineCountsKey(minute),
        UpdateExpression: `ADD ${added.map((_, i) => `#c${i} :c${i}`).join(", ")} SET #ttl = :ttl`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }
}
