/**
 * A plain pod-churn trace from the ClusterSimulator, for the etcd peer's test and its stand-alone
 * measurement (scripts/bench-etcd.ts): an initial load of running pods, then pod changes at a
 * fixed rate. Each churn step is one of: replace a pod (terminate, delete, create, start, ready:
 * five pod events), relabel a pod (its identity changes), flip readiness, or annotate.
 * Seeded, so a run is reproducible.
 */

import type { Scenario, Trace, TraceEvent } from "#scripts/bench/types.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { seededRandom } from "#scripts/sim/seeded-random.ts";

export interface ChurnTraceOptions {
  readonly pods: number;
  readonly nodes: number;
  readonly namespaces: number;
  /** Distinct `app` labels per namespace: pods sharing one share an identity. */
  readonly appsPerNamespace: number;
  readonly podChangesPerSecond: number;
  readonly seconds: number;
  readonly seed: number;
}

export function buildChurnTrace(options: ChurnTraceOptions): Trace {
  const random = seededRandom(options.seed);
  const pick = (n: number): number => Math.floor(random() * n);
  const sim = new ClusterSimulator();
  const initial: SimEvent[] = [];
  const nodeNames = Array.from({ length: options.nodes }, (_, i) => `node-${i}`);
  for (const node of nodeNames) initial.push(sim.addNode(node, `zone-${nodeNames.indexOf(node) % 3}`));
  const namespaces = Array.from({ length: options.namespaces }, (_, i) => `ns-${i}`);
  for (const namespace of namespaces) initial.push(sim.addNamespace(namespace, { team: namespace }));
  let nextPod = 0;
  const appLabels = (): Record<string, string> => ({ app: `app-${pick(options.appsPerNamespace)}` });
  const newPod = (into: SimEvent[]): void => {
    const namespace = namespaces[pick(namespaces.length)] as string;
    const name = `pod-${nextPod++}`;
    into.push(sim.createPod(namespace, name, appLabels(), nodeNames[pick(nodeNames.length)] as string));
    into.push(sim.startPod(namespace, name));
    into.push(sim.setPodReady(namespace, name, true));
  };
  for (let i = 0; i < options.pods; i++) newPod(initial);

  const churn: SimEvent[] = [];
  const total = Math.round(options.podChangesPerSecond * options.seconds);
  while (churn.length < total) {
    const pods = [...sim.pods.values()];
    const pod = pods[pick(pods.length)];
    if (pod === undefined) break;
    const roll = random();
    if (roll < 0.5) {
      churn.push(sim.terminatePod(pod.namespace, pod.name), sim.deletePod(pod.namespace, pod.name));
      newPod(churn);
    } else if (roll < 0.7) {
      churn.push(sim.relabelPod(pod.namespace, pod.name, appLabels()));
    } else if (roll < 0.9) {
      churn.push(sim.setPodReady(pod.namespace, pod.name, !pod.ready));
    } else {
      churn.push(sim.annotatePod(pod.namespace, pod.name));
    }
  }
  churn.length = Math.min(churn.length, total);

  const intervalMs = 1000 / options.podChangesPerSecond;
  const events: TraceEvent[] = [
    ...initial.map((event) => ({ atMs: 0, event, podChange: event.object.kind === "Pod", phase: -1 })),
    ...churn.map((event, i) => ({ atMs: i * intervalMs, event, podChange: true, phase: 0 })),
  ];
  return { scenario: scenarioOf(options), events, measuredFrom: initial.length, podChanges: churn.length };
}

function scenarioOf(options: ChurnTraceOptions): Scenario {
  return {
    name: "etcd-churn",
    description: `${options.pods} pods on ${options.nodes} nodes, ${options.podChangesPerSecond} pod changes/s for ${options.seconds} s`,
    scale: 1,
    nodes: options.nodes,
    zones: ["zone-0", "zone-1", "zone-2"],
    namespaces: options.namespaces,
    services: 0,
    pods: options.pods,
    bigServicePods: 0,
    watchers: options.nodes,
    phases: [{ kind: "churn", podChangesPerSecond: options.podChangesPerSecond, seconds: options.seconds }],
    seed: options.seed,
  };
}
