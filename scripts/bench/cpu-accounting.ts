/**
 * Who used the machine's cores while the live pass measured: the pipeline's thread, the fleet's
 * workers, the runner process's other threads (V8's GC helpers, libuv), the emulators' processes,
 * and everything else on the machine (other work sharing the cores). Latency on a shared machine
 * is as much the share of the cores the benchmark got as its own work; the report says which.
 *
 * Process and machine figures come from Linux's /proc (USER_HZ ticks, 100 a second); elsewhere
 * they are left out. Threads of this process come from Node (process.threadCpuUsage, worker.cpuUsage).
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** /proc's clock ticks per second (USER_HZ, 100 on Linux's mainstream architectures). */
const TICKS_PER_SECOND = 100;

export interface CpuSample {
  readonly atMs: number;
  /** This process, all threads (µs). */
  readonly processUs: number;
  /** This thread: the runner's handlers, event sources, HTTP API and counting proxies (µs). */
  readonly mainThreadUs: number;
  /** The fleet's worker threads together (µs). */
  readonly fleetUs: number;
  /** Each named child process with its descendants (ms); absent where /proc is not. */
  readonly children: Readonly<Record<string, number>>;
  /** Busy time of all cores together (ms), from /proc/stat. */
  readonly machineBusyMs: number | undefined;
}

export interface CpuShare {
  readonly wallMs: number;
  readonly cores: number;
  /** cpu-ms: the cores' busy time and its parts. */
  readonly machineBusyMs: number | undefined;
  readonly pipelineThreadMs: number;
  readonly fleetWorkersMs: number;
  /** The runner process's other threads: V8's garbage-collector helpers, libuv's pool. */
  readonly runnerOtherThreadsMs: number;
  readonly children: Readonly<Record<string, number>>;
  /** Machine busy time the benchmark's processes do not account for: other work on the machine. */
  readonly otherProcessesMs: number | undefined;
}

export async function sampleCpu(
  fleetUs: () => Promise<number>,
  children: Readonly<Record<string, number | undefined>>,
): Promise<CpuSample> {
  const fleet = await fleetUs();
  const process_ = process.cpuUsage();
  const thread = process.threadCpuUsage();
  return {
    atMs: Date.now(),
    processUs: process_.user + process_.system,
    mainThreadUs: thread.user + thread.system,
    fleetUs: fleet,
    children: Object.fromEntries(
      Object.entries(children).flatMap(([name, pid]) => {
        const ms = pid === undefined ? undefined : processTreeCpuMs(pid);
        return ms === undefined ? [] : [[name, ms]];
      }),
    ),
    machineBusyMs: machineBusyMs(),
  };
}

export function cpuBetween(before: CpuSample, after: CpuSample): CpuShare {
  const ms = (us: number) => us / 1000;
  const pipelineThreadMs = ms(after.mainThreadUs - before.mainThreadUs);
  const fleetWorkersMs = ms(after.fleetUs - before.fleetUs);
  const processMs = ms(after.processUs - before.processUs);
  const children = Object.fromEntries(
    Object.entries(after.children).flatMap(([name, value]) => {
      const start = before.children[name];
      return start === undefined ? [] : [[name, value - start]];
    }),
  );
  const machineBusy =
    after.machineBusyMs === undefined || before.machineBusyMs === undefined
      ? undefined
      : after.machineBusyMs - before.machineBusyMs;
  const ours = processMs + Object.values(children).reduce((sum, value) => sum + value, 0);
  return {
    wallMs: after.atMs - before.atMs,
    cores: availableParallelism(),
    machineBusyMs: machineBusy,
    pipelineThreadMs,
    fleetWorkersMs,
    runnerOtherThreadsMs: Math.max(0, processMs - pipelineThreadMs - fleetWorkersMs),
    children,
    otherProcessesMs: machineBusy === undefined ? undefined : Math.max(0, machineBusy - ours),
  };
}

/** One line for the console: the window, the machine's busy share, and who used it. */
export function describeCpuShare(share: CpuShare): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)}`;
  const capacity = share.wallMs * share.cores;
  const parts = [
    `pipeline thread ${s(share.pipelineThreadMs)}`,
    `fleet workers ${s(share.fleetWorkersMs)}`,
    `runner's other threads (GC) ${s(share.runnerOtherThreadsMs)}`,
    ...Object.entries(share.children).map(([name, value]) => `${name} ${s(value)}`),
    ...(share.otherProcessesMs === undefined ? [] : [`other processes ${s(share.otherProcessesMs)}`]),
  ];
  const busy =
    share.machineBusyMs === undefined
      ? ""
      : `, busy ${s(share.machineBusyMs)} (${Math.round((100 * share.machineBusyMs) / capacity)}%)`;
  return `${s(share.wallMs)} s × ${share.cores} cores = ${s(capacity)} cpu-s${busy}: ${parts.join(", ")} cpu-s`;
}

/** A process's CPU time with its live descendants' (ms), or undefined without /proc. */
export function processTreeCpuMs(pid: number): number | undefined {
  const ticks = treeTicks(pid);
  return ticks === undefined ? undefined : (ticks * 1000) / TICKS_PER_SECOND;
}

function treeTicks(pid: number): number | undefined {
  const own = processCpuTicks(pid);
  if (own === undefined) return undefined;
  return childrenOf(pid).reduce((sum, child) => sum + (treeTicks(child) ?? 0), own);
}

function processCpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) in parentheses: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8")
        .split(" ")
        .filter((text) => text.trim() !== "")
        .map(Number),
    );
  } catch {
    return [];
  }
}

function machineBusyMs(): number | undefined {
  try {
    const [label, ...values] =
      readFileSync("/proc/stat", "utf8").split("\n", 1)[0]?.trim().split(/\s+/) ?? [];
    if (label !== "cpu") return undefined;
    const ticks = values.map(Number);
    // user nice system idle iowait irq softirq steal (guest time is inside user): busy = all but idle + iowait.
    const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return ((total - idle) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
