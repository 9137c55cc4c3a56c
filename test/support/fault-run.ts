/**
 * One seeded fault run on a FaultyPipeline, measured rather than asserted (the test asserts on the
 * reports, so a long run reports every run's figures, failing ones included):
 *   1. two WatcherAgents register through POST /v1/watchers and list: one full (all kinds), one
 *      zone-only node agent (zone-0, all kinds); they poll while the trace goes through;
 *   2. a generated trace of at least `events` watch events (duplicates, reordering), with three
 *      poison messages, goes into the ingest queue as a producer sends it;
 *   3. once the pipeline is idle: the API serves exactly the reference model's EndpointSlices,
 *      each agent's state equals the API's (digests), the dead-letter queue holds this run's three
 *      poison messages with their reasons and nothing else of this run, the fan-out failure queue
 *      nothing.
 */
import assert from "node:assert/strict";
import { sendBodies } from "#scripts/local/runner.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { WatcherAgent } from "#shared/watcher/watcher-agent.ts";
import { snapshotDigest, snapshotFromObjects } from "#shared/watcher/watcher-snapshot.ts";
import type { FaultTotals, FaultyPipeline } from "#test/support/faulty-pipeline.ts";
import { assertServesReference, drain, type Letter, TraceRun } from "#test/support/pipeline-checks.ts";
import type { PipelineTarget } from "#test/support/pipeline-target.ts";

export interface FaultRunReport {
  readonly seed: number;
  readonly events: number;
  readonly messages: number;
  readonly durationMs: number;
  /** Faults injected during this run. */
  readonly faults: FaultTotals;
  /** Empty when the API equals the reference model. */
  readonly divergence: string;
  /** Watchers whose state differs from the API's after draining their queues. */
  readonly watchersDiverged: string[];
  readonly poisonLetters: number;
  readonly poisonReasons: string[];
  /** Letters of this run that are not its poison (a valid event in the DLQ). */
  readonly unexpectedLetters: Letter[];
  readonly fanoutFailures: number;
  /** The pipeline did not go idle within the settle timeout (a stuck batch). */
  readonly settleError: string;
}

const POISON_REASONS = [
  /^invalid JSON/,
  /object\.metadata\.resourceVersion: must be a decimal integer string/,
  /unknown kind "Deployment"/,
];

/** The trace of a run: chunks of random operations until at least `events` events. */
export function faultTrace(
  run: TraceRun,
  seed: number,
  events: number,
): { bodies: string[]; events: number } {
  const bodies: string[] = [];
  let count = 0;
  for (let chunk = 0; count < events; chunk++) {
    for (const body of run.bodies(seed * 1000 + chunk, 400)) {
      bodies.push(body);
      count += (JSON.parse(body) as { events: unknown[] }).events.length;
    }
  }
  run.malformedBodies().forEach((body, i) => {
    bodies.splice(Math.floor(((i + 1) * bodies.length) / 4), 0, body);
  });
  return { bodies, events: count };
}

export async function runFaultTrace(
  pipeline: FaultyPipeline,
  options: { seed: number; events: number; settleTimeoutMs: number },
): Promise<FaultRunReport> {
  const { runner } = pipeline;
  const { seed } = options;
  const started = Date.now();
  pipeline.reseed(seed);
  const before = pipeline.totals();
  const run = new TraceRun(`f${seed}`);
  const api = runner.config.api;
  const agents = [
    new WatcherAgent({
      api,
      sqs: runner.sqs,
      node: run.tagged("full"),
      zone: "zone-0",
      kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
      gapGraceMs: 300,
    }),
    new WatcherAgent({
      api,
      sqs: runner.sqs,
      node: run.tagged("node"),
      zone: "zone-0",
      kinds: ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"],
      zoneOnly: true,
      gapGraceMs: 300,
    }),
  ];
  for (const agent of agents) {
    await agent.register();
    await agent.list();
  }
  const polling = new AbortController();
  const loops = agents.map((agent) => agent.run(polling.signal, { waitSeconds: 1 }));

  const trace = faultTrace(run, seed, options.events);
  await sendBodies(runner.sqs, runner.config.sqs.ingestQueueUrl, trace.bodies);
  let settleError = "";
  try {
    await runner.whenIdle({ timeoutMs: options.settleTimeoutMs });
  } catch (error) {
    settleError = String(error);
  }
  const faults = diffTotals(before, pipeline.totals());
  polling.abort();
  await Promise.all(loops);

  const target: PipelineTarget = {
    config: {
      api,
      region: runner.config.region,
      sqs: { ...runner.config.sqs, deadLetterQueueUrl: runner.config.sqs.deadLetterQueueUrl as string },
    },
    sqs: runner.sqs,
    lagMs: 0,
    settle: (timeoutMs) => runner.whenIdle({ timeoutMs }),
    close: () => {},
  };
  let divergence = "";
  try {
    await assertServesReference(target, run);
  } catch (error) {
    divergence = String(error).slice(0, 2000);
  }

  const watchersDiverged: string[] = [];
  for (const agent of agents) {
    try {
      await pollUntilDrained(agent, Date.now() + 60_000);
      const zoneOnly = agent.node === run.tagged("node");
      assert.equal(agent.cache.digest(), await truthDigest(api, zoneOnly ? "zone-0" : undefined));
    } catch (error) {
      watchersDiverged.push(`${agent.node}: ${String(error).slice(0, 500)}`);
    }
    await agent.deregister().catch(() => false);
  }

  const letters = (await drain(runner.sqs, runner.config.sqs.deadLetterQueueUrl as string)).filter((letter) =>
    letter.body.includes(run.tag),
  );
  const poison = new Map<string, Letter>();
  const unexpectedLetters: Letter[] = [];
  for (const letter of letters) {
    const reason = letter.attributes.reason ?? "";
    if (POISON_REASONS.some((pattern) => pattern.test(reason)))
      poison.set(letter.attributes.sourceMessageId ?? letter.body, letter);
    else unexpectedLetters.push(letter);
  }
  const failureQueue = runner.config.sqs.fanoutFailureQueueUrl;
  const fanoutFailures = failureQueue === undefined ? 0 : (await drain(runner.sqs, failureQueue)).length;

  return {
    seed,
    events: trace.events,
    messages: trace.bodies.length,
    durationMs: Date.now() - started,
    faults,
    divergence,
    watchersDiverged,
    poisonLetters: poison.size,
    poisonReasons: [...poison.values()].map((letter) => letter.attributes.reason ?? ""),
    unexpectedLetters,
    fanoutFailures,
    settleError,
  };
}

/** What a run's report must show: no divergence, every poison letter with its reason, nothing else. */
export function problemsOf(report: FaultRunReport): string[] {
  const problems: string[] = [];
  if (report.settleError !== "") problems.push(`not settled: ${report.settleError}`);
  if (report.divergence !== "") problems.push(`API differs from the reference model: ${report.divergence}`);
  for (const watcher of report.watchersDiverged) problems.push(`watcher diverged: ${watcher}`);
  if (report.poisonLetters !== 3)
    problems.push(`${report.poisonLetters} poison messages in the DLQ with their reason, not 3`);
  for (const pattern of POISON_REASONS)
    if (!report.poisonReasons.some((reason) => pattern.test(reason)))
      problems.push(`no poison letter with reason ${pattern}`);
  for (const letter of report.unexpectedLetters)
    problems.push(
      `unexpected DLQ letter (reason ${JSON.stringify(letter.attributes.reason ?? "none")}): ${letter.body.slice(0, 200)}`,
    );
  if (report.fanoutFailures > 0) problems.push(`${report.fanoutFailures} fan-out batches given up`);
  return problems;
}

async function pollUntilDrained(agent: WatcherAgent, deadlineMs: number): Promise<void> {
  for (let empty = 0; empty < 2; ) {
    if (Date.now() > deadlineMs) throw new Error(`${agent.node} did not drain its queue in time`);
    const { received } = await agent.pollOnce(1);
    empty = received === 0 && agent.heldGaps === 0 ? empty + 1 : 0;
  }
}

async function listAll<T extends OutputObject>(api: string, path: string): Promise<T[]> {
  const items: T[] = [];
  let token = "";
  do {
    const url = `${api}${path}?limit=500${token === "" ? "" : `&continue=${encodeURIComponent(token)}`}`;
    const response = await fetch(url);
    assert.equal(response.status, 200, url);
    const page = (await response.json()) as { items: T[]; metadata: { continue?: string } };
    items.push(...page.items);
    token = page.metadata.continue ?? "";
  } while (token !== "");
  return items;
}

/** The API's state as an agent of `zone` (every zone: undefined) with all three kinds holds it. */
async function truthDigest(api: string, zone?: string): Promise<string> {
  return snapshotDigest(
    snapshotFromObjects({
      endpointSlices: await listAll<EndpointSlice>(api, "/apis/discovery.k8s.io/v1/endpointslices"),
      ciliumEndpointSlices: await listAll<CiliumEndpointSlice>(
        api,
        "/apis/cilium.io/v2alpha1/ciliumendpointslices",
      ),
      identities: await listAll<CiliumIdentity>(api, "/apis/cilium.io/v2/ciliumidentities"),
      zone,
    }),
  );
}

function diffTotals(before: FaultTotals, after: FaultTotals): FaultTotals {
  const minus = (a: Record<string, number>, b: Record<string, number> | undefined) =>
    Object.fromEntries(Object.entries(a).map(([key, value]) => [key, value - (b?.[key] ?? 0)]));
  return {
    calls: minus(after.calls, before.calls),
    proxy: Object.fromEntries(
      Object.entries(after.proxy).map(([service, counts]) => [service, minus(counts, before.proxy[service])]),
    ) as FaultTotals["proxy"],
    invocations: {
      invocations: after.invocations.invocations - before.invocations.invocations,
      timeouts: after.invocations.timeouts - before.invocations.timeouts,
      crashes: minus(
        after.invocations.crashes,
        before.invocations.crashes,
      ) as FaultTotals["invocations"]["crashes"],
    },
    deliveries: {
      sqsShuffledBatches: after.deliveries.sqsShuffledBatches - before.deliveries.sqsShuffledBatches,
      sqsRedeliveries: after.deliveries.sqsRedeliveries - before.deliveries.sqsRedeliveries,
      streamRedeliveries: after.deliveries.streamRedeliveries - before.deliveries.streamRedeliveries,
    },
  };
}

/** The runs as a Markdown table (docs/reliability.md), one row per run and a total. */
export function faultTable(reports: readonly FaultRunReport[]): string {
  const kinds = (report: FaultRunReport, service: string) => {
    const counts = report.faults.proxy[service];
    return counts === undefined
      ? "0 / 0 / 0 / 0"
      : `${counts.throttle} / ${counts.serverError} / ${counts.timeout} / ${counts.reset}`;
  };
  const rows = reports.map((report) => {
    const { invocations, deliveries, calls } = report.faults;
    const crashes = invocations.crashes;
    return [
      String(report.seed),
      String(report.events),
      (report.durationMs / 1000).toFixed(0),
      `${calls.dynamodb ?? 0} / ${calls.sqs ?? 0} / ${calls.sns ?? 0}`,
      kinds(report, "dynamodb"),
      kinds(report, "sqs"),
      kinds(report, "sns"),
      `${crashes.start} / ${crashes.beforeCall} / ${crashes.afterCall} / ${crashes.end}`,
      String(invocations.timeouts),
      `${deliveries.sqsRedeliveries} / ${deliveries.streamRedeliveries}`,
      String(problemsOf(report).length === 0 ? 0 : 1),
      `${report.poisonLetters} / ${report.unexpectedLetters.length}`,
    ];
  });
  const header = [
    "seed",
    "events",
    "s",
    "faultable calls DDB / SQS / SNS",
    "DynamoDB faults thr / 5xx / hold / reset",
    "SQS faults",
    "SNS faults",
    "crashes start / before / after call / end",
    "invocation timeouts",
    "redelivered SQS / stream batches",
    "diverged",
    "DLQ poison / other",
  ];
  const sum = (column: number) =>
    rows
      .map((row) => (row[column] ?? "").split(" / ").map(Number))
      .reduce((total, parts) => total.map((value, i) => value + (parts[i] ?? 0)));
  const total =
    rows.length === 0 ? [] : header.map((_, column) => (column === 0 ? "total" : sum(column).join(" / ")));
  return [header, header.map(() => "---"), ...rows, ...(rows.length > 1 ? [total] : [])]
    .map((row) => `| ${row.join(" | ")} |`)
    .join("\n");
}
