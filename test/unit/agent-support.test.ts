/**
 * The node agent's pieces: SigV4 signing for execute-api with a fixed clock and fixed credentials
 * (Smithy's signer: Authorization with the scope and signed headers, X-Amz-Date, deterministic,
 * and sensitive to the body), the state file (atomic write, round trip, missing and corrupt),
 * Prometheus text, the backends dump, and the target file.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { agentTarget } from "#shared/agent/agent-target.ts";
import { backendsDump } from "#shared/agent/backends-dump.ts";
import { prometheusText } from "#shared/agent/prometheus-text.ts";
import { signingFetch } from "#shared/agent/sigv4-fetch.ts";
import { agentStatePath, loadAgentState, saveAgentState } from "#shared/agent/state-file.ts";
import { AGENT_STATE_FORMAT, type WatcherAgentState } from "#shared/watcher/watcher-agent.ts";
import { WatcherCache } from "#shared/watcher/watcher-cache.ts";
import { endpoint, endpointSlice } from "#test/support/watcher-objects.ts";

const CREDENTIALS = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const API = "https://abc123.execute-api.eu-west-1.amazonaws.com";

function capture() {
  const seen: Array<{ url: string; headers: Record<string, string> }> = [];
  const send = (async (input: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(input), headers: { ...(init?.headers as Record<string, string>) } });
    return new Response("{}");
  }) as typeof fetch;
  const signed = signingFetch({
    region: "eu-west-1",
    credentials: CREDENTIALS,
    fetch: send,
    now: () => new Date("2026-01-02T03:04:05Z"),
  });
  return { seen, signed };
}

describe("signingFetch (SigV4, execute-api)", () => {
  it("signs with the scope, host and x-amz-date, deterministically for a fixed clock", async () => {
    const { seen, signed } = capture();
    const body = JSON.stringify({ appliedThroughMs: 1 });
    const init = { method: "POST", headers: { "content-type": "application/json" }, body };
    await signed(`${API}/v1/watchers/ip-10-0-0-1.ec2.internal/applied`, init);
    await signed(`${API}/v1/watchers/ip-10-0-0-1.ec2.internal/applied`, init);
    const [first, second] = seen;
    assert.ok(first !== undefined && second !== undefined);
    const authorization = first.headers.authorization ?? "";
    assert.match(
      authorization,
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260102\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/,
    );
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(";") ?? [];
    for (const header of ["host", "x-amz-date", "content-type"])
      assert.ok(signedHeaders.includes(header), header);
    assert.equal(first.headers["x-amz-date"], "20260102T030405Z");
    assert.equal(first.headers.host, undefined, "fetch sets Host itself");
    assert.equal(second.headers.authorization, authorization);
    await signed(`${API}/v1/watchers/ip-10-0-0-1.ec2.internal/applied`, { ...init, body: "{}" });
    assert.notEqual(seen[2]?.headers.authorization, authorization, "the body is signed");
  });

  it("signs session credentials' token and query strings", async () => {
    const seen: Array<Record<string, string>> = [];
    const signed = signingFetch({
      region: "eu-west-1",
      credentials: async () => ({ ...CREDENTIALS, sessionToken: "token" }),
      fetch: (async (_input: string | URL | Request, init?: RequestInit) => {
        seen.push(init?.headers as Record<string, string>);
        return new Response("{}");
      }) as typeof fetch,
      now: () => new Date("2026-01-02T03:04:05Z"),
    });
    await signed(`${API}/apis/discovery.k8s.io/v1/endpointslices?limit=500&continue=abc`);
    assert.equal(seen[0]?.["x-amz-security-token"], "token");
    assert.match(
      seen[0]?.authorization ?? "",
      /SignedHeaders=host;(x-amz-content-sha256;)?x-amz-date;x-amz-security-token,/,
    );
  });
});

describe("agent state file", () => {
  const dir = mkdtempSync(join(tmpdir(), "agent-state-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const state: WatcherAgentState = {
    format: AGENT_STATE_FORMAT,
    node: "n1",
    kinds: ["EndpointSlice"],
    zone: undefined,
    zoneOnly: false,
    queueUrl: "q",
    registeredAtMs: 1,
    lastReceivedAtMs: 2,
    expiresAtMs: 3,
    savedAtMs: 4,
    appliedThroughMs: 5,
    newestSourceTimeMs: 5,
    cache: { objects: [], listedAt: { EndpointSlice: "7" }, tombstones: [["EndpointSlice/a/b", "3"]] },
    held: [],
  };

  it("round-trips, leaves no temporary file, and tells missing from corrupt", async () => {
    const path = agentStatePath(dir, "n1");
    assert.deepEqual(await loadAgentState(path), { outcome: "missing" });
    const bytes = await saveAgentState(path, state);
    const loaded = await loadAgentState(path);
    assert.equal(loaded.outcome, "loaded");
    assert.deepEqual(
      JSON.parse(JSON.stringify((loaded as { state: unknown }).state)),
      JSON.parse(JSON.stringify(state)),
    );
    assert.equal((loaded as { bytes: number }).bytes, bytes);
    assert.deepEqual(readdirSync(dir), ["n1.state.json"]);
    for (const [text, reason] of [
      ["{", /not JSON/],
      ["[]", /format/],
      [JSON.stringify({ ...state, format: "x" }), /format/],
      [JSON.stringify({ ...state, cache: {} }), /no cache/],
      [JSON.stringify({ ...state, lastReceivedAtMs: "2" }), /lastReceivedAtMs/],
    ] as const) {
      writeFileSync(path, text);
      const result = await loadAgentState(path);
      assert.equal(result.outcome, "corrupt", text);
      assert.match((result as { reason: string }).reason, reason);
    }
  });
});

describe("prometheusText, backendsDump, agentTarget", () => {
  it("renders HELP, TYPE and escaped labels", () => {
    const text = prometheusText([
      { name: "a_total", help: "A\nline", type: "counter", samples: [{ value: 3 }] },
      {
        name: "b",
        help: "B",
        type: "summary",
        samples: [
          { labels: { quantile: "0.5", k: 'x"y' }, value: Number.NaN },
          { suffix: "_count", value: 2 },
        ],
      },
    ]);
    assert.equal(
      text,
      '# HELP a_total A\\nline\n# TYPE a_total counter\na_total 3\n# HELP b B\n# TYPE b summary\nb{quantile="0.5",k="x\\"y"} NaN\nb_count 2\n',
    );
  });

  it("dumps the Service backends sorted, in the documented shape", () => {
    const cache = new WatcherCache();
    cache.replaceFromList(
      "EndpointSlice",
      [
        endpointSlice("shop", "web-1", "web", 3, [
          endpoint("shop", { pod: "b", ip: "10.0.0.2" }),
          endpoint("shop", { pod: "a", ip: "10.0.0.1" }),
        ]),
      ],
      "3",
    );
    const dump = backendsDump("n1", cache, undefined);
    assert.equal(dump.format, "sliceline-node-backends/1");
    assert.equal(dump.appliedThroughMs, null);
    assert.deepEqual(dump.ipcache, []);
    assert.deepEqual(
      dump.services.map((s) => [s.namespace, s.service, s.backends.map((b) => b.addresses[0])]),
      [["shop", "web", ["10.0.0.1", "10.0.0.2"]]],
    );
  });

  it("reads local.json and cdk outputs", () => {
    assert.deepEqual(
      agentTarget({
        api: "http://127.0.0.1:1",
        region: "us-east-1",
        sqs: { endpoint: "http://127.0.0.1:2" },
      }),
      {
        api: "http://127.0.0.1:1",
        region: "us-east-1",
        sqsEndpoint: "http://127.0.0.1:2",
        aws: false,
      },
    );
    assert.deepEqual(agentTarget({ Sliceline: { ApiUrl: API } }), {
      api: API,
      region: "eu-west-1",
      sqsEndpoint: undefined,
      aws: true,
    });
    assert.throws(() => agentTarget({ A: { ApiUrl: API }, B: { ApiUrl: API } }), /several stacks/);
    assert.throws(() => agentTarget({}), /neither/);
  });
});
