/**
 * Which labels make a pod's security identity, the way Cilium decides it.
 *
 * Cilium derives an identity from the pod's labels, the pod's namespace and the namespace's own
 * labels, then drops every label its label filter (pkg/labelsfilter) calls irrelevant. The filter
 * matters for scale: a label that is unique per pod (pod-template-hash, statefulset pod-name, job
 * uids) would otherwise give every pod its own identity, and the cluster has only ~65k of them.
 *
 * Patterns use Cilium's syntax so an operator can paste their cilium-config `labels` value:
 * `[source:][!]regex`, anchored at the start of the label key; `!` makes it an exclusion. A label
 * is kept when no inclusion was configured by the user and no exclusion matches, or when the
 * longest matching inclusion is longer than the shortest matching exclusion (so an inclusion of
 * `io\.kubernetes\.pod\.namespace` wins over the broader exclusion `io\.kubernetes`).
 */
import type { NamespaceRecord, PodRecord } from "#shared/core/model.ts";

/** Cilium's source for labels read from Kubernetes objects; identity label keys carry it as "k8s:". */
export const K8S_LABEL_SOURCE = "k8s";
export const POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace";
export const NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels.";

export interface LabelPattern {
  /** As written in the configuration, for error messages and logs. */
  readonly text: string;
  /** Only labels of this source match; undefined matches every source. */
  readonly source: string | undefined;
  readonly exclude: boolean;
  /** The key regex wrapped as `^(?:...)`, so a match can only start at the key's first character. */
  readonly anchored: RegExp;
}

export interface IdentityLabelPolicy {
  readonly patterns: readonly LabelPattern[];
  /**
   * Set once the user configures any inclusion: from then on only included labels count. Cilium's
   * built-in inclusions do not set it, which is why the default policy keeps ordinary labels.
   */
  readonly onlyIncluded: boolean;
}

/** Plain, JSON-friendly configuration (for an env var or a settings file). */
export interface IdentityLabelPolicyConfig {
  /** Key patterns (optionally `source:`-prefixed) to include; configuring any switches to include-only mode. */
  readonly include?: readonly string[];
  /** Key patterns (optionally `source:`-prefixed) to exclude. */
  readonly exclude?: readonly string[];
  /** Start from Cilium's default list (true unless set to false), as Cilium does without a custom file. */
  readonly useDefaults?: boolean;
}

export class InvalidLabelPolicyError extends Error {
  override name = "InvalidLabelPolicyError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid identity label policy: ${problems.join("; ")}`);
    this.problems = problems;
  }
}

/**
 * Cilium's default label filter (pkg/labelsfilter defaultLabelPrefixCfg, as documented under
 * "Limiting Identity-Relevant Labels"), in its own syntax. The explicit per-key exclusions exist
 * because `kubernetes\.io` is anchored at the key start and so misses e.g. `statefulset.kubernetes.io/...`.
 */
export const CILIUM_DEFAULT_LABEL_PATTERNS: readonly string[] = Object.freeze([
  "reserved:.*",
  "io\\.kubernetes\\.pod\\.namespace",
  "io\\.cilium\\.k8s\\.namespace\\.labels",
  "app\\.kubernetes\\.io",
  "!io\\.kubernetes",
  "!kubernetes\\.io",
  "!statefulset\\.kubernetes\\.io/pod-name",
  "!apps\\.kubernetes\\.io/pod-index",
  "!batch\\.kubernetes\\.io/job-completion-index",
  "!batch\\.kubernetes\\.io/controller-uid",
  "!.*beta\\.kubernetes\\.io",
  "!k8s\\.io",
  "!pod-template-generation",
  "!pod-template-hash",
  "!controller-revision-hash",
  "!annotation.*",
  "!controller-uid",
  "!etcd_node",
]);

const MAX_PATTERN_LENGTH = 1024;
const SOURCE_NAME = /^[a-z0-9][a-z0-9-]*$/;

export const defaultIdentityLabelPolicy: IdentityLabelPolicy = identityLabelPolicy({});

/** Builds a policy from plain config; throws InvalidLabelPolicyError listing every bad entry. */
export function identityLabelPolicy(config: IdentityLabelPolicyConfig): IdentityLabelPolicy {
  const problems: string[] = [];
  const builtIn = config.useDefaults === false ? [] : CILIUM_DEFAULT_LABEL_PATTERNS;
  const patterns: LabelPattern[] = [];
  for (const text of builtIn) {
    const parsed = parseLabelPattern(text, problems);
    if (parsed !== undefined) patterns.push(parsed);
  }
  let onlyIncluded = false;
  for (const [field, exclude] of [
    ["include", false],
    ["exclude", true],
  ] as const) {
    const values = config[field];
    if (values === undefined) continue;
    if (!Array.isArray(values)) {
      problems.push(`${field} must be a list of pattern strings`);
      continue;
    }
    for (const value of values as unknown[]) {
      if (typeof value !== "string") {
        problems.push(`${field} entries must be strings, got ${JSON.stringify(value)}`);
        continue;
      }
      const parsed = parseUserPattern(value, exclude, problems);
      if (parsed === undefined) continue;
      patterns.push(parsed);
      if (!parsed.exclude) onlyIncluded = true;
    }
  }
  if (problems.length > 0) throw new InvalidLabelPolicyError(problems);
  return Object.freeze({ patterns: Object.freeze(patterns), onlyIncluded });
}

/**
 * Parses a policy from one string, as it would arrive in an environment variable: either JSON
 * (an IdentityLabelPolicyConfig object, or an array of Cilium-syntax patterns) or Cilium's
 * `labels` value, patterns separated by whitespace or commas (`"k8s-app app !controller-uid"`).
 * Empty or undefined means the default policy.
 */
export function parseIdentityLabelPolicy(text: string | undefined): IdentityLabelPolicy {
  const trimmed = (text ?? "").trim();
  if (trimmed === "") return defaultIdentityLabelPolicy;
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new InvalidLabelPolicyError([`not valid JSON: ${(error as Error).message}`]);
    }
    if (Array.isArray(parsed)) return identityLabelPolicy(configFromCiliumPatterns(parsed));
    if (typeof parsed !== "object" || parsed === null) {
      throw new InvalidLabelPolicyError(["JSON policy must be an object or an array of patterns"]);
    }
    return identityLabelPolicy(checkedConfigObject(parsed as Record<string, unknown>));
  }
  return identityLabelPolicy(configFromCiliumPatterns(trimmed.split(/[\s,]+/).filter((p) => p !== "")));
}

/** Whether one label (key without source) counts for the identity under the policy. */
export function isIdentityRelevantLabel(
  key: string,
  policy: IdentityLabelPolicy,
  source: string = K8S_LABEL_SOURCE,
): boolean {
  let longestInclude = 0;
  let shortestExclude = 0;
  for (const pattern of policy.patterns) {
    if (pattern.source !== undefined && pattern.source !== source) continue;
    const match = pattern.anchored.exec(key);
    if (match === null) continue;
    const length = match[0].length;
    if (pattern.exclude) {
      // Cilium keeps 0 as "no exclusion", so an exclusion matching zero characters excludes nothing.
      if (shortestExclude === 0 || length < shortestExclude) shortestExclude = length;
    } else if (length > longestInclude) {
      longestInclude = length;
    }
  }
  return (!policy.onlyIncluded && shortestExclude === 0) || longestInclude > shortestExclude;
}

/**
 * The identity-relevant labels of a pod as Cilium writes them in a CiliumIdentity's
 * security-labels: `k8s:<key>` -> value, keys sorted. An unknown namespace (its object not seen
 * yet) contributes only `io.kubernetes.pod.namespace`; the identity changes once its labels arrive.
 */
export function securityLabels(
  pod: PodRecord,
  namespace: NamespaceRecord | undefined,
  policy: IdentityLabelPolicy = defaultIdentityLabelPolicy,
): Record<string, string> {
  const candidates = new Map<string, string>();
  for (const [key, value] of Object.entries(pod.labels)) candidates.set(key, value);
  if (namespace !== undefined) {
    for (const [key, value] of Object.entries(namespace.labels)) {
      candidates.set(NAMESPACE_LABELS_PREFIX + key, value);
    }
  }
  // Set last: a pod cannot fake its namespace by carrying this label itself.
  candidates.set(POD_NAMESPACE_LABEL, pod.namespace);
  const keys = [...candidates.keys()].filter((key) => isIdentityRelevantLabel(key, policy)).sort();
  const out: Record<string, string> = {};
  for (const key of keys) out[`${K8S_LABEL_SOURCE}:${key}`] = candidates.get(key) as string;
  return out;
}

/**
 * A canonical string for a label set: equal for equal sets whatever the key order, different for
 * different sets. JSON of the sorted pairs rather than Cilium's `k=v;` join, because that join is
 * ambiguous when a key or value contains `=` or `;` (two label sets must never share an identity).
 */
export function labelSetKey(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(pairs);
}

function parseUserPattern(value: string, exclude: boolean, problems: string[]): LabelPattern | undefined {
  const { source, body } = splitSource(value);
  if (body.startsWith("!")) {
    problems.push(
      `${JSON.stringify(value)}: put the pattern in "exclude" without "!" (or use Cilium syntax)`,
    );
    return undefined;
  }
  const text = exclude ? `${source === undefined ? "" : `${source}:`}!${body}` : value;
  return parseLabelPattern(text, problems);
}

/** Cilium's parseLabelPrefix: `source:` is split off first, then a leading `!` marks an exclusion. */
function parseLabelPattern(text: string, problems: string[]): LabelPattern | undefined {
  if (text.length > MAX_PATTERN_LENGTH) {
    problems.push(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
    return undefined;
  }
  const { source, body } = splitSource(text);
  if (source !== undefined && !SOURCE_NAME.test(source)) {
    const hint = source.startsWith("!") ? ` (write "${source.slice(1)}:!..." to exclude)` : "";
    problems.push(`${JSON.stringify(text)}: invalid label source ${JSON.stringify(source)}${hint}`);
    return undefined;
  }
  const exclude = body.startsWith("!");
  const regexText = exclude ? body.slice(1) : body;
  if (regexText === "") {
    problems.push(`${JSON.stringify(text)}: empty key pattern`);
    return undefined;
  }
  try {
    // Compiled alone first: wrapping an unbalanced pattern like "a)(b" would silently change its meaning.
    new RegExp(regexText);
  } catch (error) {
    problems.push(`${JSON.stringify(text)}: ${(error as Error).message}`);
    return undefined;
  }
  return Object.freeze({ text, source, exclude, anchored: new RegExp(`^(?:${regexText})`) });
}

function splitSource(text: string): { source: string | undefined; body: string } {
  const colon = text.indexOf(":");
  return colon < 0
    ? { source: undefined, body: text }
    : { source: text.slice(0, colon), body: text.slice(colon + 1) };
}

/** Cilium-syntax patterns (with `!` for exclusions) as a config; the defaults stay, as in Cilium. */
function configFromCiliumPatterns(patterns: readonly unknown[]): IdentityLabelPolicyConfig {
  const include: string[] = [];
  const exclude: string[] = [];
  const problems: string[] = [];
  for (const pattern of patterns) {
    if (typeof pattern !== "string" || pattern === "") {
      problems.push(`patterns must be non-empty strings, got ${JSON.stringify(pattern)}`);
      continue;
    }
    const { source, body } = splitSource(pattern);
    if (body.startsWith("!"))
      exclude.push(source === undefined ? body.slice(1) : `${source}:${body.slice(1)}`);
    else include.push(pattern);
  }
  if (problems.length > 0) throw new InvalidLabelPolicyError(problems);
  return { include, exclude };
}

function checkedConfigObject(raw: Record<string, unknown>): IdentityLabelPolicyConfig {
  const unknownFields = Object.keys(raw).filter(
    (k) => k !== "include" && k !== "exclude" && k !== "useDefaults",
  );
  if (unknownFields.length > 0) {
    throw new InvalidLabelPolicyError([
      `unknown fields ${unknownFields.join(", ")} (expected include, exclude, useDefaults)`,
    ]);
  }
  if (raw.useDefaults !== undefined && typeof raw.useDefaults !== "boolean") {
    throw new InvalidLabelPolicyError(["useDefaults must be a boolean"]);
  }
  return raw as IdentityLabelPolicyConfig;
}
