/**
 * The recorded cluster of test/fixtures/recorded-cluster/ (provenance in its README.md): real
 * Kubernetes objects recorded from real clusters by other projects (Apache-2.0), and the wire
 * responses assembled from them that the fake apiserver replays, byte for byte, to the bridge.
 *
 * The objects are as recorded; what is assembled around them is stated here and in the README:
 * the list envelopes and their resourceVersions, the watch event types of objects recorded as
 * bare states, BOOKMARK and 410 ERROR events in the apiserver's encoding, and one DELETED event.
 * The encoding follows the apiserver's: compact JSON, one event per line, `kind` then `apiVersion`
 * then `metadata` (in ObjectMeta's field order) first, list items without kind and apiVersion,
 * `<`, `>` and `&` escaped as Go's encoding/json does. Fields below metadata keep the recorded order.
 *
 * `node test/support/recorded-cluster.ts --write` rewrites the wire files from the sources; the
 * replay test checks that they are up to date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FakeKind, RecordedResponse } from "#scripts/sim/fake-apiserver.ts";

export const RECORDED_CLUSTER_DIR = fileURLToPath(new URL("../fixtures/recorded-cluster/", import.meta.url));

type Json = Record<string, unknown>;

/** One recorded response of the replay, in the order the bridge asks for them per kind and verb. */
export interface RecordedStep {
  readonly kind: FakeKind;
  readonly verb: "list" | "watch";
  /** The wire file, under wire/. */
  readonly file: string;
  /** A watch that stays open after its events (the end of the recording for that kind). */
  readonly holdOpen?: boolean;
  /** Served only once the test opens this gate. */
  readonly gate?: "expire";
}

export const RECORDED_STEPS: readonly RecordedStep[] = [
  { kind: "Namespace", verb: "list", file: "namespaces-list.json" },
  { kind: "Node", verb: "list", file: "nodes-list.json" },
  { kind: "Service", verb: "list", file: "services-list.json" },
  { kind: "Service", verb: "watch", file: "services-watch.jsonl", holdOpen: true },
  { kind: "Pod", verb: "list", file: "pods-list-1.json" },
  // foo's recorded lifecycle, then the watch ends (as at a watch timeout)...
  { kind: "Pod", verb: "watch", file: "pods-watch-1.jsonl" },
  // ... and resuming from its last resourceVersion gets 410 Gone: the history was compacted.
  { kind: "Pod", verb: "watch", file: "pods-watch-2-expired.jsonl", gate: "expire" },
  { kind: "Pod", verb: "list", file: "pods-list-2.json" },
  { kind: "Pod", verb: "watch", file: "pods-watch-3.jsonl", holdOpen: true },
];

/** Chunk sizes of the replay: bodies split inside lines, inside strings, byte by byte at times. */
export const RECORDED_CHUNK_SIZES: readonly number[] = [1, 7, 64, 3, 509, 4096, 2, 1500];

/** The deletion constructed for crashloop (the recording has none): resourceVersion and time. */
export const CRASHLOOP_DELETION = { resourceVersion: "2433922", deletionTimestamp: "2024-07-03T18:34:41Z" };

/** The Status of the 410 ERROR event, as the apiserver encodes it (k8s.io/apimachinery NewResourceExpired). */
export const EXPIRED_STATUS = {
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message: "too old resource version: 389626 (414326)",
  reason: "Expired",
  code: 410,
};

function source(path: string): unknown {
  return JSON.parse(readFileSync(join(RECORDED_CLUSTER_DIR, "sources", path), "utf8"));
}

function items(path: string, kind: string): Json[] {
  return ((source(path) as { items: Json[] }).items ?? []).filter((item) => item.kind === kind);
}

const OBJECT_META_ORDER = [
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
];

/** The object with its top level and metadata in the apiserver's field order; `list` drops kind and apiVersion. */
function apiserverOrder(object: Json, list = false): Json {
  const metadata = (object.metadata ?? {}) as Json;
  const orderedMetadata: Json = {};
  for (const key of OBJECT_META_ORDER) if (key in metadata) orderedMetadata[key] = metadata[key];
  for (const [key, value] of Object.entries(metadata))
    if (!(key in orderedMetadata)) orderedMetadata[key] = value;
  const ordered: Json = list ? {} : { kind: object.kind, apiVersion: object.apiVersion };
  ordered.metadata = orderedMetadata;
  for (const [key, value] of Object.entries(object))
    if (key !== "kind" && key !== "apiVersion" && key !== "metadata") ordered[key] = value;
  return ordered;
}

/** JSON as Go's encoding/json writes it: compact, with <, >, &, U+2028 and U+2029 escaped. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${(char.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
}

function list(kind: string, resourceVersion: string, objects: readonly Json[]): string {
  return `${goJson({
    kind: `${kind}List`,
    apiVersion: "v1",
    metadata: { resourceVersion },
    items: objects.map((object) => apiserverOrder(object, true)),
  })}\n`;
}

function events(entries: ReadonlyArray<[string, Json]>): string {
  return entries.map(([type, object]) => `${goJson({ type, object })}\n`).join("");
}

/** A BOOKMARK as the apiserver sends it on a Pod watch: an empty Pod carrying the resourceVersion. */
function podBookmark(resourceVersion: string): Json {
  return {
    kind: "Pod",
    apiVersion: "v1",
    metadata: { resourceVersion, creationTimestamp: null },
    spec: { containers: null },
    status: {},
  };
}

/** The wire files, by name under wire/, assembled from the sources. */
export function assembleRecording(): Map<string, string> {
  const namespace = source("k9s/ns.json") as Json;
  const nodes = items("cilium/dualstack-v1.27-init.excerpt.json", "Node");
  const [kubernetesService] = items("cilium/dualstack-v1.27-init.excerpt.json", "Service");
  const echo = items("cilium/dualstack-v1.27-state1.excerpt.json", "Service").find(
    (service) => (service.metadata as Json).name === "echo-dualstack",
  ) as Json;
  const fooStates = [
    ...(source("pulumi-kubernetes/pod-foo-unready.json") as Json[]),
    source("pulumi-kubernetes/pod-foo-ready.json") as Json,
  ];
  const fooAgain = (source("pulumi-kubernetes/pod-foo-unscheduled.json") as Json[]).at(-1) as Json;
  const [crashloop] = source("pulumi-kubernetes/pod-crashloop.json") as Json[];
  const crashloopMetadata = (crashloop as Json).metadata as Json;
  const crashloopDeleted: Json = {
    ...(crashloop as Json),
    metadata: {
      ...crashloopMetadata,
      resourceVersion: CRASHLOOP_DELETION.resourceVersion,
      deletionTimestamp: CRASHLOOP_DELETION.deletionTimestamp,
      deletionGracePeriodSeconds: 0,
    },
  };
  const rv = (object: Json) => String((object.metadata as Json).resourceVersion);
  const byName = (a: Json, b: Json) =>
    String((a.metadata as Json).name) < String((b.metadata as Json).name) ? -1 : 1;
  const fooLast = fooStates.at(-1) as Json;
  return new Map([
    ["namespaces-list.json", list("Namespace", rv(namespace), [namespace])],
    [
      "nodes-list.json",
      list("Node", String(Math.max(...nodes.map((n) => Number(rv(n))))), [...nodes].sort(byName)),
    ],
    ["services-list.json", list("Service", rv(kubernetesService as Json), [kubernetesService as Json])],
    ["services-watch.jsonl", events([["ADDED", apiserverOrder(echo)]])],
    // The recording starts just before foo is created: an empty list at the resourceVersion before it.
    ["pods-list-1.json", list("Pod", String(Number(rv(fooStates[0] as Json)) - 1), [])],
    [
      "pods-watch-1.jsonl",
      events([
        ["ADDED", apiserverOrder(fooStates[0] as Json)],
        ["MODIFIED", apiserverOrder(fooStates[1] as Json)],
        ["MODIFIED", apiserverOrder(fooStates[2] as Json)],
        ["BOOKMARK", podBookmark(rv(fooStates[2] as Json))],
        ["MODIFIED", apiserverOrder(fooLast)],
        ["BOOKMARK", podBookmark(rv(fooLast))],
      ]),
    ],
    ["pods-watch-2-expired.jsonl", events([["ERROR", EXPIRED_STATUS]])],
    // After the gap: foo was deleted and created again (a new uid, unschedulable).
    ["pods-list-2.json", list("Pod", rv(fooAgain), [fooAgain])],
    [
      "pods-watch-3.jsonl",
      events([
        ["ADDED", apiserverOrder(crashloop as Json)],
        ["DELETED", apiserverOrder(crashloopDeleted)],
      ]),
    ],
  ]);
}

export function readWireFile(file: string): Uint8Array {
  return readFileSync(join(RECORDED_CLUSTER_DIR, "wire", file));
}

/** The replay, as the fake apiserver's responses per kind and verb. */
export function recordedResponses(gates: {
  expire: Promise<unknown>;
}): Map<string, { kind: FakeKind; verb: "list" | "watch"; responses: RecordedResponse[] }> {
  const script = new Map<string, { kind: FakeKind; verb: "list" | "watch"; responses: RecordedResponse[] }>();
  for (const step of RECORDED_STEPS) {
    const key = `${step.verb} ${step.kind}`;
    const entry = script.get(key) ?? { kind: step.kind, verb: step.verb, responses: [] };
    entry.responses.push({
      body: readWireFile(step.file),
      chunkSizes: RECORDED_CHUNK_SIZES,
      ...(step.holdOpen === undefined ? {} : { holdOpen: step.holdOpen }),
      ...(step.gate === undefined ? {} : { after: gates[step.gate] }),
    });
    script.set(key, entry);
  }
  // Kinds whose recording has no watch events: their watches are open and idle.
  for (const kind of ["Namespace", "Node", "Service", "Pod"] as const)
    if (!script.has(`watch ${kind}`)) script.set(`watch ${kind}`, { kind, verb: "watch", responses: [] });
  return script;
}

if (import.meta.main && process.argv.includes("--write")) {
  for (const [file, contents] of assembleRecording())
    writeFileSync(join(RECORDED_CLUSTER_DIR, "wire", file), contents);
  process.stdout.write(`wrote ${join(RECORDED_CLUSTER_DIR, "wire")}\n`);
}
