import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { generateTrace } from "#scripts/bench/load-generator.ts";
import {
  loadScenario,
  SCENARIO_DIR,
  SCENARIO_NAMES,
  ScenarioError,
  scenarioFileSchema,
} from "#scripts/bench/scenario.ts";
import { modelStrategies, STRATEGIES } from "#scripts/bench/strategy-model.ts";

function fileOf(name: string) {
  return scenarioFileSchema.parse(JSON.parse(readFileSync(join(SCENARIO_DIR, `${name}.json`), "utf8")));
}

describe("scenario files", () => {
  for (const name of SCENARIO_NAMES) {
    it(`${name} loads at its default scale, sizes scaled and rates kept`, () => {
      const file = fileOf(name);
      const scenario = loadScenario(name);
      assert.equal(scenario.name, name);
      assert.equal(scenario.scale, file.defaultScale);
      assert.equal(scenario.pods, Math.round(file.pods * file.defaultScale));
      assert.equal(scenario.services, Math.round(file.services * file.defaultScale));
      assert.equal(scenario.watchers, file.defaultWatchers ?? Math.round(file.watchers * file.defaultScale));
      assert.ok(scenario.nodes >= scenario.watchers);
      assert.deepEqual(
        scenario.phases.map((p) => ("podChangesPerSecond" in p ? p.podChangesPerSecond : undefined)),
        file.phases.map((p) => ("podChangesPerSecond" in p ? p.podChangesPerSecond : undefined)),
      );
    });
  }

  it("is at the seed's size at scale 1", () => {
    const scenario = loadScenario("steady", { scale: 1 });
    assert.equal(scenario.scale, 1);
    assert.equal(scenario.nodes, 5000);
    assert.equal(scenario.pods, 200_000);
    assert.equal(scenario.watchers, 5000);
  });

  it("records the scale, watchers and seconds asked for", () => {
    const scenario = loadScenario("mass-restart", { scale: 0.05, watchers: 300, seconds: 7 });
    assert.equal(scenario.scale, 0.05);
    assert.equal(scenario.watchers, 300);
    assert.equal(scenario.nodes, 300, "a fleet of 300 agents needs 300 nodes");
    assert.equal(scenario.pods, 10_000);
    const phase = scenario.phases[0];
    assert.ok(phase?.kind === "watcher-restart");
    assert.equal(phase.seconds, 7);
    assert.equal(phase.podChangesPerSecond, 100);
  });

  it("rejects an unknown scenario and a bad scale", () => {
    assert.throws(() => loadScenario("no-such-scenario"), ScenarioError);
    assert.throws(() => loadScenario("steady", { scale: 2 }), ScenarioError);
  });
});

describe("load generator", () => {
  it("counts exactly the Pod events after the initial load, at the phase's rate", () => {
    const trace = generateTrace(loadScenario("steady", { scale: 0.01, seconds: 10 }));
    let pods = 0;
    for (const [index, event] of trace.events.entries()) {
      const kind = event.event.object.kind;
      assert.equal(event.podChange, kind === "Pod", `event ${index}`);
      if (index >= trace.measuredFrom && kind === "Pod") pods++;
      if (index < trace.measuredFrom) assert.equal(event.phase, -1);
    }
    assert.equal(trace.podChanges, pods);
    // 100/s for 10 s, plus the follow-ups of operations still in flight (at most ~5 s of them).
    assert.ok(pods >= 1000 && pods <= 1200, `${pods} pod changes`);
    const measured = trace.events.slice(trace.measuredFrom);
    const perSecond = new Map<number, number>();
    for (const e of measured)
      perSecond.set(Math.floor(e.atMs / 1000), (perSecond.get(Math.floor(e.atMs / 1000)) ?? 0) + 1);
    for (let second = 0; second < 10; second++) assert.ok((perSecond.get(second) ?? 0) <= 100);
    for (let i = 1; i < measured.length; i++)
      assert.ok((measured[i]?.atMs ?? 0) >= (measured[i - 1]?.atMs ?? 0));
  });

  it("is a function of the seed", () => {
    const scenario = loadScenario("burst", { scale: 0.005, seconds: 2 });
    const a = generateTrace(scenario);
    const b = generateTrace(scenario);
    assert.deepEqual(a.events, b.events);
    const other = generateTrace({ ...scenario, seed: scenario.seed + 1 });
    assert.notDeepEqual(other.events.slice(other.measuredFrom), a.events.slice(a.measuredFrom));
  });

  it("replaces every pod in a rolling update, new pods Ready before the old ones go", () => {
    const scenario = loadScenario("rolling-update", { scale: 0.002, watchers: 10 });
    const trace = generateTrace(scenario);
    const measured = trace.events.slice(trace.measuredFrom);
    const deleted = measured.filter((e) => e.event.type === "DELETED").length;
    const added = measured.filter((e) => e.event.type === "ADDED").length;
    assert.equal(deleted, scenario.pods);
    assert.equal(added, scenario.pods);
    assert.equal(trace.podChanges, 5 * scenario.pods);
  });

  it("schedules re-lists for the restarting fraction of the fleet, after their restart", () => {
    const trace = generateTrace(loadScenario("mass-restart", { scale: 0.01, seconds: 5 }));
    assert.equal(trace.restarts?.length, Math.round(trace.scenario.watchers * 0.3));
    for (const restart of trace.restarts ?? []) {
      assert.ok(restart.relistAtMs >= restart.restartAtMs);
      assert.ok(restart.watcher < trace.scenario.watchers);
    }
  });
});

describe("heartbeat storm", () => {
  it("makes no strategy write or deliver anything", async () => {
    const trace = generateTrace(loadScenario("heartbeat-storm", { scale: 0.01, seconds: 2 }));
    assert.equal(trace.podChanges, 0);
    assert.ok(trace.events.length - trace.measuredFrom >= 10_000);
    const pass = await modelStrategies(trace);
    assert.equal(pass.results.length, STRATEGIES.length);
    for (const result of pass.results) {
      assert.equal(result.objectWrites, 0, result.strategy);
      assert.equal(result.deliveries, 0, result.strategy);
      assert.equal(result.bytesDelivered, 0, result.strategy);
    }
  });
});
