import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type FleetMember,
  forEachLimited,
  mergeRestartReports,
  restartReport,
  WatcherFleet,
} from "#scripts/bench/fleet.ts";

/** A member that records calls; `failLists` makes its first lists fail (an overloaded API). */
function fakeMember(node: string, failLists = 0) {
  const calls: string[] = [];
  let failures = failLists;
  let state = "empty";
  const member: FleetMember & { calls: string[]; state: () => string } = {
    node,
    zone: "zone-a",
    calls,
    state: () => state,
    register: async () => {
      calls.push("register");
    },
    list: async () => {
      calls.push("list");
      if (failures > 0) {
        failures--;
        throw new Error("429 TooManyRequests");
      }
      state = "listed";
    },
    pollOnce: async () => {
      calls.push("poll");
      await new Promise((resolve) => setTimeout(resolve, 5));
      return 0;
    },
    deregister: async () => {
      calls.push("deregister");
    },
    forget: () => {
      calls.push("forget");
      state = "empty";
    },
  };
  return member;
}

describe("WatcherFleet", () => {
  it("registers before it lists, then polls every member", async () => {
    const fleet = new WatcherFleet({ joinConcurrency: 3, waitSeconds: 0 });
    const members = Array.from({ length: 7 }, (_, i) => fakeMember(`n${i}`));
    await fleet.join(members);
    await new Promise((resolve) => setTimeout(resolve, 30));
    await fleet.stop();
    for (const member of members) {
      assert.deepEqual(member.calls.slice(0, 2), ["register", "list"]);
      assert.ok(member.calls.includes("poll"), `${member.node} never polled`);
    }
    assert.equal(fleet.members.length, 7);
  });

  it("restarts a fraction: state lost, re-registered and re-listed after backoff, failed lists retried", async () => {
    const fleet = new WatcherFleet({ joinConcurrency: 4, waitSeconds: 0, random: () => 0.5 });
    const members = Array.from({ length: 10 }, (_, i) => fakeMember(`n${i}`));
    await fleet.join(members);
    // The first three restarted members find the API refusing their first re-list.
    let refusals = 3;
    for (const member of members.slice(0, 4)) {
      const list = member.list;
      member.list = async () => {
        if (refusals > 0) {
          refusals--;
          member.calls.push("list-refused");
          throw new Error("429");
        }
        return list();
      };
    }
    const report = await fleet.restart(0.4, { baseMs: 2, capMs: 20, maxAttempts: 5 });
    await fleet.stop();
    assert.equal(report.restarted, 4);
    assert.equal(report.recovered, 4);
    assert.equal(report.failedAttempts, 3);
    for (const member of members.slice(0, 4)) {
      const afterForget = member.calls.slice(member.calls.indexOf("forget"));
      assert.ok(afterForget.includes("register") && afterForget.includes("list"), member.node);
      assert.equal(member.state(), "listed");
    }
    for (const member of members.slice(4)) assert.ok(!member.calls.includes("forget"));
  });

  it("a member that never lists again is reported down, not counted recovered", async () => {
    const fleet = new WatcherFleet({ joinConcurrency: 2, waitSeconds: 0, random: () => 0 });
    const members = [fakeMember("a"), fakeMember("b")];
    await fleet.join(members);
    const first = members[0] as ReturnType<typeof fakeMember>;
    first.list = async () => {
      throw new Error("500");
    };
    const report = await fleet.restart(0.5, { baseMs: 1, capMs: 1, maxAttempts: 3 });
    await fleet.stop();
    assert.deepEqual([report.restarted, report.recovered, report.failedAttempts], [1, 0, 3]);
    assert.deepEqual(
      fleet.members.map((member) => member.node),
      ["b"],
    );
  });

  it("merges shards' restart reports as one fleet's: counts add, quantiles come from every recovery", () => {
    const a = restartReport(3, 1, [30, 10, 20]);
    const b = restartReport(2, 0, [5, 500]);
    assert.deepEqual(a.recoveriesMs, [10, 20, 30]);
    const merged = mergeRestartReports([a, b]);
    assert.deepEqual([merged.restarted, merged.recovered, merged.failedAttempts], [5, 5, 1]);
    assert.deepEqual(merged.recoveriesMs, [5, 10, 20, 30, 500]);
    assert.deepEqual(merged.recoveryMs, { p50: 20, p99: 500, max: 500 });
  });

  it("leave deregisters the members and drops them from the fleet", async () => {
    const fleet = new WatcherFleet({ joinConcurrency: 2, waitSeconds: 0 });
    const members = Array.from({ length: 4 }, (_, i) => fakeMember(`n${i}`));
    await fleet.join(members);
    const left = await fleet.leave(2);
    await fleet.stop();
    assert.equal(left.length, 2);
    for (const member of left)
      assert.ok((member as ReturnType<typeof fakeMember>).calls.includes("deregister"));
    assert.equal(fleet.members.length, 2);
  });

  it("forEachLimited never runs more than the limit at once and visits every item", async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimited(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (item) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 1));
        seen.push(item);
        running--;
      },
    );
    assert.equal(peak, 3);
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });
});
