/**
 * API fuzzing against the router (a pure function) over the in-memory reader holding the API
 * fixture's cluster, with an in-memory watcher registry: hostile paths, selectors, limits,
 * continue tokens (some mutated from real ones), watch parameters, methods, headers and bodies. Property: no answer
 * of 500 or more, every error a Kubernetes Status (test/support/api-fuzz.ts).
 *
 * Short seeded form in `npm test`; FUZZ_RUNS=20000 for the long one, FUZZ_SEED to replay.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { MemoryChangeLog } from "#shared/api/memory-change-log.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import { MemoryWatcherRegistry } from "#shared/api/watcher-registry.ts";
import { apiFixture } from "#test/support/api-fixture.ts";
import { assertKubernetesAnswer, continueOf, fuzzRequest, fuzzSettings } from "#test/support/api-fuzz.ts";

const settings = fuzzSettings(400, 20261205);
let router: ApiRouter;
const unexpected: unknown[] = [];
const tokens: string[] = [];

before(async () => {
  const fixture = await apiFixture();
  router = createApiRouter({
    reader: new MemorySliceReader(fixture.store),
    watchers: new MemoryWatcherRegistry(),
    // Watches answer as long polls; a short window with no waits keeps each case fast.
    watch: { log: new MemoryChangeLog(), longPollWindowMs: 20, pollIntervalMs: 5, sleep: async () => {} },
    onError: (error) => unexpected.push(error),
  });
  // Real continue tokens to mutate: a page of each list.
  for (const path of [
    "/apis/discovery.k8s.io/v1/endpointslices",
    "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
    "/apis/cilium.io/v2alpha1/ciliumendpointslices",
    "/apis/cilium.io/v2/ciliumidentities",
  ]) {
    const response = await router({ method: "GET", path, query: new URLSearchParams({ limit: "1" }) });
    const token = continueOf(response.body);
    if (token !== undefined) tokens.push(token);
  }
  assert.ok(tokens.length >= 3);
});

describe("router fuzz", () => {
  it(`answers ${settings.runs} hostile requests below 500, every error a Kubernetes Status`, async () => {
    let tried = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fuzzRequest(() => tokens),
        async (request) => {
          tried++;
          const response = await router({
            method: request.method,
            path: request.path,
            query: new URLSearchParams(request.query),
            headers: request.headers,
            body: request.body,
          });
          assertKubernetesAnswer(request, response.status, response.body);
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const token = continueOf(response.body);
          if (token !== undefined && tokens.length < 200) tokens.push(token);
        },
      ),
      { numRuns: settings.runs, seed: settings.seed },
    );
    assert.equal(tried >= settings.runs, true);
    assert.deepEqual(unexpected, []);
    const histogram = [...statuses].sort(([a], [b]) => a - b).map(([code, n]) => `${code}: ${n}`);
    console.log(`router fuzz: ${tried} cases, seed ${settings.seed} (${histogram.join(", ")})`);
  });
});
