import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CILIUM_DEFAULT_LABEL_PATTERNS,
  defaultIdentityLabelPolicy,
  InvalidLabelPolicyError,
  identityLabelPolicy,
  isIdentityRelevantLabel,
  labelSetKey,
  parseIdentityLabelPolicy,
  securityLabels,
} from "#shared/core/identity/security-labels.ts";
import type { NamespaceRecord, PodRecord } from "#shared/core/model.ts";

function pod(labels: Record<string, string>, namespace = "shop"): PodRecord {
  return {
    namespace,
    name: "web-7d4b9c-abcde",
    uid: "uid-1",
    labels,
    nodeName: "node-1",
    hostNetwork: false,
    podIPs: ["10.0.0.5"],
    hostIP: "192.168.0.1",
    phase: "Running",
    ready: true,
    terminating: false,
    namedPorts: [],
  };
}

function ns(labels: Record<string, string>, name = "shop"): NamespaceRecord {
  return { name, labels };
}

describe("security labels: Cilium's default label filter", () => {
  const dropped = [
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "batch.kubernetes.io/job-completion-index",
    "batch.kubernetes.io/controller-uid",
    "controller-uid",
    "kubernetes.io/hostname",
    "k8s.io/cluster-service",
    "beta.kubernetes.io/arch",
    "node.beta.kubernetes.io/instance-type",
    "io.kubernetes.container.name",
    "annotation.foo",
    "etcd_node",
  ];
  for (const key of dropped) {
    it(`leaves out ${key}`, () => {
      assert.equal(isIdentityRelevantLabel(key, defaultIdentityLabelPolicy), false);
    });
  }

  const kept = [
    "app",
    "tier",
    "app.kubernetes.io/name",
    "io.kubernetes.pod.namespace",
    "io.cilium.k8s.namespace.labels.team",
    "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name",
    "job-name",
    "batch.kubernetes.io/job-name",
    "example.com/owner",
  ];
  for (const key of kept) {
    it(`keeps ${key}`, () => {
      assert.equal(isIdentityRelevantLabel(key, defaultIdentityLabelPolicy), true);
    });
  }

  it("uses exactly Cilium's documented default list", () => {
    assert.equal(CILIUM_DEFAULT_LABEL_PATTERNS.length, 18);
    assert.ok(CILIUM_DEFAULT_LABEL_PATTERNS.includes("!pod-template-hash"));
    assert.equal(defaultIdentityLabelPolicy.onlyIncluded, false);
  });
});

describe("security labels of a pod", () => {
  it("combines pod labels, the namespace and the namespace's labels, k8s:-prefixed and sorted", () => {
    const labels = securityLabels(
      pod({ app: "web", "pod-template-hash": "7d4b9c", "app.kubernetes.io/name": "web" }),
      ns({ "kubernetes.io/metadata.name": "shop", team: "payments", "beta.kubernetes.io/x": "y" }),
    );
    assert.deepEqual(labels, {
      "k8s:app": "web",
      "k8s:app.kubernetes.io/name": "web",
      "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "shop",
      "k8s:io.cilium.k8s.namespace.labels.team": "payments",
      "k8s:io.kubernetes.pod.namespace": "shop",
    });
    assert.deepEqual(Object.keys(labels), Object.keys(labels).sort());
  });

  it("does not let a pod label override its real namespace", () => {
    const labels = securityLabels(pod({ "io.kubernetes.pod.namespace": "kube-system" }, "shop"), undefined);
    assert.equal(labels["k8s:io.kubernetes.pod.namespace"], "shop");
  });

  it("uses only the namespace name while the Namespace object is unknown", () => {
    assert.deepEqual(securityLabels(pod({}), undefined), { "k8s:io.kubernetes.pod.namespace": "shop" });
  });

  it("two pods of one Deployment (differing only in filtered labels) share a label set", () => {
    const a = securityLabels(pod({ app: "web", "pod-template-hash": "aaa" }), ns({}));
    const b = securityLabels(pod({ app: "web", "pod-template-hash": "bbb" }), ns({}));
    assert.equal(labelSetKey(a), labelSetKey(b));
  });

  it("a namespace label change changes the label set", () => {
    const before = securityLabels(pod({ app: "web" }), ns({ env: "dev" }));
    const after = securityLabels(pod({ app: "web" }), ns({ env: "prod" }));
    assert.notEqual(labelSetKey(before), labelSetKey(after));
  });
});

describe("configurable label policy", () => {
  it("an inclusion switches to include-only, keeping Cilium's built-in inclusions", () => {
    const policy = identityLabelPolicy({ include: ["app$"] });
    const labels = securityLabels(
      pod({ app: "web", application: "x", tier: "fe" }),
      ns({ team: "t" }),
      policy,
    );
    assert.deepEqual(Object.keys(labels), [
      "k8s:app",
      "k8s:io.cilium.k8s.namespace.labels.team",
      "k8s:io.kubernetes.pod.namespace",
    ]);
  });

  it("an exclusion drops matching keys and keeps the rest", () => {
    const policy = identityLabelPolicy({ exclude: ["tier", "version$"] });
    const labels = securityLabels(
      pod({ app: "web", tier: "fe", version: "1", versioned: "y" }),
      undefined,
      policy,
    );
    assert.deepEqual(Object.keys(labels), ["k8s:app", "k8s:io.kubernetes.pod.namespace", "k8s:versioned"]);
  });

  it("the longer of a matching inclusion and exclusion wins", () => {
    const policy = identityLabelPolicy({ include: ["kubernetes\\.io/keep"] });
    assert.equal(isIdentityRelevantLabel("kubernetes.io/keep-me", policy), true);
    assert.equal(isIdentityRelevantLabel("kubernetes.io/other", policy), false);
  });

  it("patterns are anchored at the key start", () => {
    const policy = identityLabelPolicy({ exclude: ["hash"] });
    assert.equal(isIdentityRelevantLabel("hash-of-config", policy), false);
    assert.equal(isIdentityRelevantLabel("config-hash", policy), true);
  });

  it("without defaults, only the configured patterns apply", () => {
    const policy = identityLabelPolicy({ useDefaults: false });
    assert.equal(isIdentityRelevantLabel("pod-template-hash", policy), true);
  });

  it("a source-scoped pattern applies only to that source", () => {
    const policy = identityLabelPolicy({ exclude: ["container:tier"] });
    assert.equal(isIdentityRelevantLabel("tier", policy), true);
    assert.equal(isIdentityRelevantLabel("tier", policy, "container"), false);
  });

  it("parses Cilium's `labels` value (whitespace or comma separated)", () => {
    const policy = parseIdentityLabelPolicy("k8s-app app, !controller-uid !job-name");
    assert.equal(policy.onlyIncluded, true);
    assert.equal(isIdentityRelevantLabel("app", policy), true);
    assert.equal(isIdentityRelevantLabel("k8s-app-team", policy), true);
    assert.equal(isIdentityRelevantLabel("job-name", policy), false);
    assert.equal(isIdentityRelevantLabel("tier", policy), false);
  });

  it("parses JSON config objects and pattern arrays", () => {
    const fromObject = parseIdentityLabelPolicy('{"exclude":["tier"],"useDefaults":true}');
    assert.equal(isIdentityRelevantLabel("tier", fromObject), false);
    assert.equal(isIdentityRelevantLabel("app", fromObject), true);
    const fromArray = parseIdentityLabelPolicy('["!tier", "k8s:!zone"]');
    assert.equal(isIdentityRelevantLabel("tier", fromArray), false);
    assert.equal(isIdentityRelevantLabel("zone", fromArray), false);
    assert.equal(fromArray.onlyIncluded, false);
  });

  it("empty config means the default policy", () => {
    assert.equal(parseIdentityLabelPolicy(undefined), defaultIdentityLabelPolicy);
    assert.equal(parseIdentityLabelPolicy("  "), defaultIdentityLabelPolicy);
  });

  it("rejects bad config with every problem listed", () => {
    assert.throws(
      () => identityLabelPolicy({ include: ["(unclosed", ""], exclude: ["!double", "!k8s:x"] }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidLabelPolicyError);
        assert.equal(error.name, "InvalidLabelPolicyError");
        assert.equal(error.problems.length, 4);
        assert.match(error.message, /\(unclosed/);
        return true;
      },
    );
  });

  it("rejects an unbalanced pattern that would only compile once wrapped", () => {
    assert.throws(() => identityLabelPolicy({ include: ["a)(b"] }), InvalidLabelPolicyError);
  });

  it("rejects malformed env values", () => {
    assert.throws(() => parseIdentityLabelPolicy("{not json"), InvalidLabelPolicyError);
    assert.throws(() => parseIdentityLabelPolicy('{"includes":["x"]}'), /unknown fields includes/);
    assert.throws(() => parseIdentityLabelPolicy('{"useDefaults":"no"}'), InvalidLabelPolicyError);
    assert.throws(() => parseIdentityLabelPolicy("[1]"), InvalidLabelPolicyError);
    assert.throws(() => parseIdentityLabelPolicy('{"include":"app"}'), /list of pattern strings/);
    assert.throws(() => parseIdentityLabelPolicy("!k8s:app"), /invalid label source/);
  });
});

describe("labelSetKey", () => {
  it("is equal for equal sets in any key order", () => {
    assert.equal(labelSetKey({ "k8s:b": "2", "k8s:a": "1" }), labelSetKey({ "k8s:a": "1", "k8s:b": "2" }));
  });

  it("distinguishes sets that a naive k=v join would confuse", () => {
    assert.notEqual(labelSetKey({ "k8s:key": "foo=value" }), labelSetKey({ "k8s:key=foo": "value" }));
    assert.notEqual(labelSetKey({ a: "1;b=2" }), labelSetKey({ a: "1", b: "2" }));
    assert.notEqual(labelSetKey({}), labelSetKey({ a: "" }));
  });
});
