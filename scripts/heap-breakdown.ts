/**
 * Where the core's memory goes, per tracked pod: loads N pods (default 20,000) and drops the
 * group structures one at a time, printing what each held.
 *   node --expose-gc scripts/heap-breakdown.ts [pods]
 */

import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

const gc = (globalThis as { gc?: () => void }).gc as () => void;
const settle = () => {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
};
const N = Number(process.argv[2] ?? 20000);
const sim = new ClusterSimulator();
const settings = resolveSlicingSettings();
const store = new MemoryClusterStore(settings, { keepObjects: false });
const engine = new SliceEngine({ settings, store });
let chunk: SimEvent[] = [];
const flush = async () => {
  for (let i = 0; i < chunk.length; i += 100) {
    const p = parseMessageBody(JSON.stringify({ events: chunk.slice(i, i + 100) }));
    await engine.applyBatch(p.events.map((event) => ({ event, sourceTimeMs: 0 })));
  }
  chunk = [];
};
for (let n = 0; n < N / 40; n++) chunk.push(sim.addNode(`node-${n}`, `zone-${n % 3}`));
for (let s = 0; s < N / 50; s++) {
  const ns = `ns-${Math.floor(s / 20)}`;
  if (s % 20 === 0) chunk.push(sim.addNamespace(ns, { team: "t" }));
  chunk.push(
    sim.upsertService({
      namespace: ns,
      name: `svc-${s}`,
      selector: { app: `svc-${s}` },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    }),
  );
  for (let i = 0; i < 50; i++) {
    const name = `svc-${s}-${i}`;
    chunk.push(
      sim.createPod(
        ns,
        name,
        { app: `svc-${s}`, "pod-template-hash": "5d8f7c" },
        `node-${(s * 50 + i) % (N / 40)}`,
      ),
      sim.startPod(ns, name),
      sim.setPodReady(ns, name, true),
    );
  }
  if (chunk.length > 5000) await flush();
}
await flush();
const groups = [...store.groups()];
let last = settle();
const step = (label: string, f: () => void) => {
  f();
  const now = settle();
  console.log(label.padEnd(30), Math.round((last - now) / N), "B/pod");
  last = now;
};
const each = (f: (g: (typeof groups)[number]) => void) => () => {
  for (const g of groups) f(g);
};
step(
  "podIdentities",
  each((g) => (g.podIdentities as Map<string, number>).clear()),
);
step(
  "serviceSlices",
  each((g) => g.serviceSlices.clear()),
);
step(
  "ciliumSlices",
  each((g) => {
    (g as unknown as { ciliumSlices: unknown }).ciliumSlices = null;
  }),
);
step(
  "pods",
  each((g) => g.pods.clear()),
);
step("rest (groups)", () => {
  groups.length = 0;
});
