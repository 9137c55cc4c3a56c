/**
 * Progress of a long benchmark phase. On a terminal: a redrawn bar (cli-progress). Anywhere else
 * (CI logs, output piped to a file): one plain line every `intervalMs`, plus the first and the
 * last, so a log shows the run is alive without thousands of carriage returns.
 */
import type { Writable } from "node:stream";
import cliProgress from "cli-progress";

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  /** What is counted ("events", "watchers"). */
  readonly unit?: string;
  /** Default process.stderr, which keeps stdout clean for results. */
  readonly stream?: Writable & { isTTY?: boolean };
  /** Default: whether `stream` is a terminal. */
  readonly tty?: boolean;
  /** Line mode: at most one line per this many ms (default 10 s). */
  readonly intervalMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export interface Progress {
  /** Sets the absolute count; `status` is a short free text shown after the figures. */
  update(value: number, status?: string): void;
  increment(by?: number, status?: string): void;
  /** Draws the final state and releases the terminal; later calls do nothing. */
  stop(status?: string): void;
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  return tty ? barProgress(options, stream) : lineProgress(options, stream);
}

function barProgress(options: ProgressOptions, stream: Writable): Progress {
  const unit = options.unit ?? "";
  const bar = new cliProgress.SingleBar(
    {
      format: `${options.label} [{bar}] {percentage}% | {value}/{total} ${unit} | ETA {eta_formatted} | {status}`,
      stream: stream as NodeJS.WritableStream,
      hideCursor: true,
      etaBuffer: 50,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let value = 0;
  let stopped = false;
  bar.start(options.total, 0, { status: "" });
  return {
    update(next, status = "") {
      if (stopped) return;
      value = next;
      bar.update(value, { status });
    },
    increment(by = 1, status = "") {
      if (stopped) return;
      value += by;
      bar.update(value, { status });
    },
    stop(status = "") {
      if (stopped) return;
      stopped = true;
      bar.update(value, { status });
      bar.stop();
    },
  };
}

/** "label: 1,200/5,000 events (24%), 400/s, ETA 10 s, status" */
export function progressLine(
  label: string,
  value: number,
  total: number,
  unit: string,
  elapsedMs: number,
  status: string,
): string {
  const percent = total > 0 ? Math.floor((value / total) * 100) : 100;
  const rate = elapsedMs > 0 ? value / (elapsedMs / 1000) : 0;
  const remaining = rate > 0 && total > value ? Math.ceil((total - value) / rate) : 0;
  const parts = [
    `${label}: ${value.toLocaleString("en-US")}/${total.toLocaleString("en-US")}${unit ? ` ${unit}` : ""} (${percent}%)`,
    `${rate >= 10 ? Math.round(rate).toLocaleString("en-US") : rate.toFixed(1)}/s`,
    `ETA ${remaining} s`,
  ];
  if (status !== "") parts.push(status);
  return `${parts.join(", ")}\n`;
}

function lineProgress(options: ProgressOptions, stream: Writable): Progress {
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? 10_000;
  const unit = options.unit ?? "";
  const started = now();
  let value = 0;
  let lastPrinted = started;
  let stopped = false;
  const print = (status: string) => {
    lastPrinted = now();
    stream.write(progressLine(options.label, value, options.total, unit, lastPrinted - started, status));
  };
  print("");
  const maybePrint = (status: string) => {
    if (now() - lastPrinted >= interval) print(status);
  };
  return {
    update(next, status = "") {
      if (stopped) return;
      value = next;
      maybePrint(status);
    },
    increment(by = 1, status = "") {
      if (stopped) return;
      value += by;
      maybePrint(status);
    },
    stop(status = "done") {
      if (stopped) return;
      stopped = true;
      print(status);
    },
  };
}
