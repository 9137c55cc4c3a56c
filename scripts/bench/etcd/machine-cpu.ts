/**
 * Whole-machine CPU use from /proc/stat, so a live run can say how much of the machine other
 * processes took meanwhile (a shared machine skews latency, and the figures must show it).
 */
import { readFileSync } from "node:fs";

export interface MachineCpuSample {
  /** Seconds of CPU spent busy (user, nice, system, irq, softirq, steal) across all cores. */
  readonly busySeconds: number;
  readonly iowaitSeconds: number;
}

/** The aggregate "cpu" line; its fields are in USER_HZ ticks (1/100 s on Linux). */
export function sampleMachineCpu(): MachineCpuSample {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const [user = 0, nice = 0, system = 0, , iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { busySeconds: (user + nice + system + irq + softirq + steal) / 100, iowaitSeconds: iowait / 100 };
}
