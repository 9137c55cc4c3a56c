/**
 * Pipeline counters in memory (tests, single-process runs): the same contract as the DynamoDB
 * adapter, minute by minute. Nothing expires; a process this serves does not live for days.
 */
import {
  nonZeroCounts,
  type PipelineCounts,
  type PipelineCountsRecorder,
  type PipelineCountsSource,
} from "./pipeline-counts.ts";

export class MemoryPipelineCounts implements PipelineCountsRecorder, PipelineCountsSource {
  readonly #byMinute = new Map<number, PipelineCounts>();

  async recordPipelineCounts(minute: number, counts: PipelineCounts): Promise<void> {
    const added = nonZeroCounts(counts);
    if (added.length === 0) return;
    const stored: PipelineCounts = { ...this.#byMinute.get(minute) };
    for (const [counter, value] of added) stored[counter] = (stored[counter] ?? 0) + value;
    this.#byMinute.set(minute, stored);
  }

  async pipelineCountsOf(minutes: readonly number[]): Promise<ReadonlyMap<number, PipelineCounts>> {
    const found = new Map<number, PipelineCounts>();
    for (const minute of minutes) {
      const counts = this.#byMinute.get(minute);
      if (counts !== undefined) found.set(minute, { ...counts });
    }
    return found;
  }
}
