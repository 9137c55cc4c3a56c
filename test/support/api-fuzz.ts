/**
 * Hostile requests for the API, as fast-check arbitraries, and the property every answer must
 * have: no status of 500 or more, and every error a Kubernetes Status (kind Status, apiVersion v1,
 * code equal to the HTTP status, a message). Shared by the router fuzz (pure function, in-memory
 * reader) and the HTTP fuzz (the local runner's HTTP API over DynamoDB Local).
 *
 * Requests are built around the real routes so most of them reach a handler: known path templates
 * with hostile segments (overlong, unicode, percent-encoded bytes valid or not, dot segments,
 * encoded slashes), random selectors, limits, continue tokens (some mutated from real ones),
 * methods, Accept headers (Table output included) and bodies.
 *
 * FUZZ_RUNS sets the number of cases of each suite (default: the short form of `npm test`);
 * FUZZ_SEED replays a seed.
 */
import assert from "node:assert/strict";
import fc from "fast-check";

export interface FuzzRequest {
  readonly method: string;
  /** The raw path: segments already percent-encoded as the test chose (may be invalid encodings). */
  readonly path: string;
  /** The raw query string, without "?" (keys and values encoded by URLSearchParams). */
  readonly query: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
}

export interface FuzzSettings {
  readonly runs: number;
  readonly seed: number;
}

/** Cases and seed from FUZZ_RUNS / FUZZ_SEED, or the given short-form defaults. */
export function fuzzSettings(defaultRuns: number, defaultSeed: number): FuzzSettings {
  const runs = Number(process.env.FUZZ_RUNS || Number.NaN);
  const seed = Number(process.env.FUZZ_SEED || Number.NaN);
  return {
    runs: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    seed: Number.isInteger(seed) ? seed : defaultSeed,
  };
}

const NAMESPACES = ["shop", "payments", "kube-system", "nobody", "default"];
const NAMES = ["web-00001", "ledger-00001", "cart-00004", "256", "257", "65535", "0", "1"];

/** One path segment, already encoded for the wire. */
const segment: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...NAMESPACES, ...NAMES) },
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ".",
      "..",
      "%2e",
      "%2E%2e",
      "",
      "%2F",
      "a%2Fb",
      "%00",
      "%",
      "%zz",
      "%E0%A4",
      "%C0%AF",
      "%FF",
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("a", "9", "x.", "-", "%41", "\u00e9"), fc.integer({ min: 60, max: 3000 }))
      .map(([unit, count]) => encodeURIComponent(unit.repeat(count)).replace(/%2541/g, "%41")),
  },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 12 }).map(encodeWtf16) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 })
      .map((bytes) => bytes.map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  },
);

/** encodeURIComponent, but lone surrogates (which it refuses) become an invalid %-sequence. */
function encodeWtf16(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...text].map((c) => (/[\uD800-\uDFFF]/.test(c) ? "%ED%A0%80" : encodeURIComponent(c))).join("");
  }
}

const TEMPLATES: readonly (readonly string[])[] = [
  [],
  ["healthz"],
  ["api"],
  ["api", "v1"],
  ["api", "v1", "namespaces", "{ns}"],
  ["apis"],
  ["apis", "discovery.k8s.io"],
  ["apis", "discovery.k8s.io", "v1"],
  ["apis", "cilium.io", "v2"],
  ["apis", "cilium.io", "v2alpha1"],
  ["apis", "{group}", "{version}"],
  ["apis", "discovery.k8s.io", "v1", "endpointslices"],
  ["apis", "discovery.k8s.io", "v1", "namespaces", "{ns}", "endpointslices"],
  ["apis", "discovery.k8s.io", "v1", "namespaces", "{ns}", "endpointslices", "{name}"],
  ["apis", "cilium.io", "v2alpha1", "ciliumendpointslices"],
  ["apis", "cilium.io", "v2alpha1", "ciliumendpointslices", "{name}"],
  ["apis", "cilium.io", "v2", "ciliumidentities"],
  ["apis", "cilium.io", "v2", "ciliumidentities", "{name}"],
  ["apis", "{group}", "{version}", "{x}", "{x}", "{x}", "{x}", "{x}"],
  ["v1", "ipcache", "{ip}"],
  ["v1", "stats"],
  ["v1", "watchers"],
  ["v1", "watchers", "{node}"],
  ["{x}"],
  ["{x}", "{x}", "{x}"],
];

const ip: fc.Arbitrary<string> = fc.oneof(
  fc.ipV4(),
  fc.ipV6().map((address) => encodeURIComponent(address)),
  fc.constantFrom("10.0.0.2", "fd00::a", "10.0.0.256", "::ffff:10.0.0.2", "1.2.3", "%3A%3A1"),
  segment,
);

const pathArbitrary: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(...TEMPLATES),
    fc.array(segment, { minLength: 8, maxLength: 8 }),
    ip,
    fc.constantFrom("discovery.k8s.io", "cilium.io", "meta.k8s.io", "x"),
    fc.constantFrom("v1", "v2", "v2alpha1", "v9"),
    fc.oneof({ weight: 8, arbitrary: fc.constant("") }, fc.constantFrom("/", "//", "/./", "/../")),
    fc.oneof({ weight: 8, arbitrary: fc.constant("") }, fc.constantFrom("/", "//", "/.")),
  )
  .map(([template, fills, address, group, version, prefix, suffix]) => {
    let next = 0;
    const parts = template.map((part) => {
      if (part === "{ip}") return address;
      if (part === "{group}") return group;
      if (part === "{version}") return version;
      if (part.startsWith("{")) return fills[next++ % fills.length] as string;
      return part;
    });
    const path = `/${parts.join("/")}`;
    return prefix === "" || prefix === "/" ? `${path}${suffix}` : `${prefix.slice(0, -1)}${path}${suffix}`;
  });

const selectorKey = fc.oneof(
  fc.constantFrom("app", "tier", "kubernetes.io/service-name", "endpointslice.kubernetes.io/managed-by"),
  fc.constantFrom("constructor", "__proto__", "toString", "hasOwnProperty", "prototype", "valueOf"),
  fc.stringMatching(/^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,10}[a-zA-Z0-9])?$/),
  fc.string({ maxLength: 8 }),
);
const selectorValue = fc.oneof(
  fc.constantFrom("web", "front", "ledger", "", "x"),
  fc.string({ maxLength: 8 }),
);
const requirement = fc.oneof(
  selectorKey,
  selectorKey.map((k) => `!${k}`),
  fc
    .tuple(selectorKey, fc.constantFrom("=", "==", "!=", ">", "<"), selectorValue)
    .map(([k, o, v]) => `${k}${o}${v}`),
  fc
    .tuple(selectorKey, fc.constantFrom(" in ", " notin "), fc.array(selectorValue, { maxLength: 3 }))
    .map(([k, o, vs]) => `${k}${o}(${vs.join(",")})`),
  fc.string({ maxLength: 20 }),
);
const selector = fc.oneof(
  fc.array(requirement, { minLength: 1, maxLength: 4 }).map((rs) => rs.join(",")),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.integer({ min: 1000, max: 20000 }).map((n) => "a".repeat(n)),
);
const fieldSelector = fc.oneof(
  fc.constantFrom(
    "metadata.name=web-00001",
    "metadata.namespace=shop",
    "metadata.namespace!=shop",
    "spec.x=y",
  ),
  selector,
);
const limit = fc.oneof(
  fc.integer({ min: -5, max: 5 }).map(String),
  fc.constantFrom(
    "1",
    "2",
    "500",
    "1000",
    "1001",
    "999999999999999",
    "9999999999999999999999",
    "1e3",
    "0x10",
    " 1",
    "",
    "-0",
    "NaN",
  ),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.string({ maxLength: 6 }),
);

/** A continue token: random text, or (given real ones) a real one mutated. */
function continueToken(real: () => readonly string[]): fc.Arbitrary<string> {
  const mutated = fc
    .tuple(
      fc.nat(),
      fc.nat(),
      fc.constantFrom("flip", "truncate", "append", "swap-signature", "drop-signature", "as-is"),
    )
    .map(([pick, at, how]) => {
      const tokens = real();
      if (tokens.length === 0) return "";
      const token = tokens[pick % tokens.length] as string;
      const i = at % Math.max(1, token.length);
      const [payload = "", signature = ""] = token.split(".");
      switch (how) {
        case "flip":
          return `${token.slice(0, i)}${token[i] === "A" ? "B" : "A"}${token.slice(i + 1)}`;
        case "truncate":
          return token.slice(0, i);
        case "append":
          return `${token}A`;
        case "swap-signature":
          return `${payload}.${signature.split("").reverse().join("")}`;
        case "drop-signature":
          return payload;
        default:
          return token;
      }
    });
  return fc.oneof(
    mutated,
    fc.base64String({ maxLength: 80 }),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,60}\.[A-Za-z0-9_-]{43}$/),
    fc.string({ unit: "binary", maxLength: 30 }),
    fc.integer({ min: 4000, max: 9000 }).map((n) => "A".repeat(n)),
  );
}

const accept = fc.oneof(
  fc.constantFrom(
    "application/json",
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    "application/json;as=Table;v=v2;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "*/*",
    "text/html",
    ";;;,,,=",
    "application/json;as",
    "application/json;=Table",
  ),
  fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")),
);

const body = fc.oneof(
  fc.constant(undefined),
  fc.string({ maxLength: 60 }),
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        node: fc.oneof(
          fc.constantFrom("node-a", "node-b", "ip-10-0-0-1.ec2.internal", "ip-10-0-0-1-ec2-internal"),
          segment,
        ),
        zone: fc.oneof(fc.constantFrom("zone-a", ""), fc.string({ maxLength: 70 })),
        kinds: fc.array(
          fc.oneof(
            fc.constantFrom("EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"),
            fc.string({ maxLength: 5 }),
          ),
          { maxLength: 4 },
        ),
        zoneOnly: fc.oneof(fc.boolean(), fc.constant("yes")),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.integer({ min: 10_000, max: 200_000 }).map((n) => `{"node":"${"n".repeat(n)}"}`),
  fc.constantFrom(
    '{"__proto__":{"polluted":true},"node":"node-a","kinds":["EndpointSlice"]}',
    '{"constructor":{"prototype":{"polluted":true}},"node":"node-a","kinds":["EndpointSlice"]}',
    '{"node":"node-a","kinds":["EndpointSlice"],"zoneOnly":true}',
    '{"node":"node-a","zone":"zone-a","kinds":["EndpointSlice","CiliumIdentity"]}',
    '{"node":"node-b","zone":"zone-a","kinds":["EndpointSlice"],"zoneOnly":true}',
    "null",
    "[]",
    '"text"',
  ),
);

const method = fc.oneof(
  { weight: 8, arbitrary: fc.constant("GET") },
  { weight: 4, arbitrary: fc.constantFrom("POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS") },
  { weight: 1, arbitrary: fc.constantFrom("get", "TRACE", "PROPFIND", "X") },
);

export function fuzzRequest(realTokens: () => readonly string[] = () => []): fc.Arbitrary<FuzzRequest> {
  const parameter = fc.oneof(
    selector.map((v) => ["labelSelector", v] as const),
    fieldSelector.map((v) => ["fieldSelector", v] as const),
    limit.map((v) => ["limit", v] as const),
    continueToken(realTokens).map((v) => ["continue", v] as const),
    fc.constantFrom("true", "1", "True", "false", "").map((v) => ["watch", v] as const),
    fc.constantFrom("1", "0", "-1", "x", "", "99999999999").map((v) => ["timeoutSeconds", v] as const),
    fc.constantFrom("0", "", "1", "x", "99999999999999999999").map((v) => ["resourceVersion", v] as const),
    fc.constantFrom("true", "false", "x").map((v) => ["allowWatchBookmarks", v] as const),
    fc.constantFrom("None", "Object", "Metadata", "x").map((v) => ["includeObject", v] as const),
    fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
  );
  const generic = fc.record({
    method,
    path: pathArbitrary,
    query: fc
      .array(parameter, { maxLength: 5 })
      .map((pairs) => new URLSearchParams(pairs.map(([k, v]): [string, string] => [k, v])).toString()),
    headers: fc.record(
      { accept, "content-type": fc.constantFrom("application/json", "text/plain", "") },
      { requiredKeys: [] },
    ),
    body,
  }) as fc.Arbitrary<FuzzRequest>;
  // Watcher registration, read and removal with bodies that are often valid, so the registry runs.
  const watcher: fc.Arbitrary<FuzzRequest> = fc.record({
    method: fc.constantFrom("POST", "POST", "GET", "DELETE"),
    path: fc.oneof(
      fc.constant("/v1/watchers"),
      fc
        .constantFrom("node-a", "node-b", "ip-10-0-0-1.ec2.internal", "ip-10-0-0-1-ec2-internal")
        .map((n) => `/v1/watchers/${n}`),
      segment.map((n) => `/v1/watchers/${n}`),
    ),
    query: fc.constant(""),
    headers: fc.constant({ "content-type": "application/json" }),
    body: fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .record({
            node: fc.constantFrom("node-a", "node-b", "ip-10-0-0-1.ec2.internal", "ip-10-0-0-1-ec2-internal"),
            zone: fc.constantFrom("zone-a", "zone-b"),
            kinds: fc.subarray(["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"], { minLength: 1 }),
            zoneOnly: fc.boolean(),
          })
          .map((o) => JSON.stringify(o)),
      },
      { weight: 1, arbitrary: body },
    ),
  });
  return fc.oneof({ weight: 9, arbitrary: generic }, { weight: 1, arbitrary: watcher });
}

/** The property: below 500, and every error a Kubernetes Status with the HTTP code. */
export function assertKubernetesAnswer(request: FuzzRequest, status: number, responseBody: string): void {
  const where = `${request.method} ${request.path.slice(0, 200)}?${request.query.slice(0, 200)}`;
  assert.ok(status < 500, `${where}: ${status} ${responseBody.slice(0, 300)}`);
  if (status >= 200 && status < 300) return;
  if (request.method === "HEAD") return; // no body by definition
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(responseBody) as Record<string, unknown>;
  } catch {
    assert.fail(`${where}: ${status} with a body that is not JSON: ${responseBody.slice(0, 200)}`);
  }
  assert.equal(parsed.kind, "Status", where);
  assert.equal(parsed.apiVersion, "v1", where);
  assert.equal(parsed.code, status, where);
  assert.equal(typeof parsed.message, "string", where);
}

/** Continue tokens in a list body, to mutate in later cases. */
export function continueOf(responseBody: string): string | undefined {
  try {
    const token = (JSON.parse(responseBody) as { metadata?: { continue?: unknown } }).metadata?.continue;
    return typeof token === "string" && token !== "" ? token : undefined;
  } catch {
    return undefined;
  }
}
