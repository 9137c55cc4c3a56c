import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { createProgress, progressLine } from "#scripts/bench/progress.ts";

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  stream.isTTY = isTTY;
  stream.columns = 120;
  return { stream, text: () => chunks.join("") };
}

describe("progress without a terminal", () => {
  it("prints the first line, then at most one per interval, then the last", () => {
    let clock = 0;
    const out = sink(false);
    const progress = createProgress({
      label: "churn",
      total: 1000,
      unit: "events",
      stream: out.stream,
      intervalMs: 1000,
      now: () => clock,
    });
    for (let step = 1; step <= 10; step += 1) {
      clock = step * 250; // four updates a second for 2.5 s
      progress.update(step * 100);
    }
    progress.stop();
    progress.update(5); // after stop: ignored
    const lines = out.text().trimEnd().split("\n");
    assert.deepEqual(lines, [
      "churn: 0/1,000 events (0%), 0.0/s, ETA 0 s",
      "churn: 400/1,000 events (40%), 400/s, ETA 2 s",
      "churn: 800/1,000 events (80%), 400/s, ETA 1 s",
      "churn: 1,000/1,000 events (100%), 400/s, ETA 0 s, done",
    ]);
    assert.ok(
      !out.text().includes(String.fromCharCode(27)) && !out.text().includes("\r"),
      "no terminal codes",
    );
  });

  it("detects a non-terminal stream by itself", () => {
    const out = sink(false);
    createProgress({ label: "x", total: 1, stream: out.stream }).stop();
    assert.match(out.text(), /^x: 0\/1 \(0%\)/);
  });
});

describe("progress on a terminal", () => {
  it("draws a cli-progress bar with the label and count", () => {
    const out = sink(true);
    const progress = createProgress({ label: "load", total: 10, unit: "pods", stream: out.stream });
    progress.increment(4, "phase 1");
    progress.stop("finished");
    const text = out.text();
    assert.match(text, /load \[/);
    assert.match(text, /4\/10 pods/);
    assert.match(text, /finished/);
  });
});

describe("progressLine", () => {
  it("omits the unit and status when absent", () => {
    assert.equal(progressLine("p", 5, 10, "", 1000, ""), "p: 5/10 (50%), 5.0/s, ETA 1 s\n");
  });
});
