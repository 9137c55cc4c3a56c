/**
 * cdk-nag v3, AwsSolutions pack: the app synthesizes with the plugin and no finding is left
 * unacknowledged (errors and warnings alike); every acknowledgement carries a specific reason and
 * suppresses a finding that really exists (no stale or blanket acknowledgements).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Validations } from "aws-cdk-lib";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { BuiltApp } from "#infra/build-app.ts";
import { synthApp } from "#test/infra/synth.ts";

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

function acknowledgementsOf(built: BuiltApp): Acknowledgement[] {
  const found: Acknowledgement[] = [];
  for (const construct of built.app.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.push({ path: construct.node.path, id: id.replace(/^annotation::/i, ""), reason });
      }
    }
  }
  return found;
}

/** "rule at construct path" for every finding the pack reports. */
function findingsOf(built: BuiltApp): { rule: string; path: string; severity: string }[] {
  return built.nag.validateScope(built.app).violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => ({
      rule: violation.ruleName,
      path: resource.constructPath ?? "",
      severity: violation.severity ?? "",
    })),
  );
}

/** The same app with every acknowledgement ignored: what the acknowledgements are hiding. */
function withoutAcknowledgements(context: Record<string, unknown>): BuiltApp {
  const acknowledge = Validations.prototype.acknowledge;
  Validations.prototype.acknowledge = () => {};
  try {
    return synthApp({ context });
  } finally {
    Validations.prototype.acknowledge = acknowledge;
  }
}

const CONFIGURATIONS = [
  ["sandbox", {}],
  ["production", { production: "true", watcherQueuePrefix: "prod-w-" }],
] as const;

const sandbox = synthApp();

describe("cdk-nag AwsSolutions", () => {
  it("runs as a validation plugin of the app and lets the sandbox synthesize", () => {
    const assembly = sandbox.app.synth();
    assert.ok(assembly.getStackByName(sandbox.stack.stackName).template.Resources);
  });

  it("fails the synth on a finding nobody acknowledged", () => {
    const built = synthApp();
    new Queue(built.stack, "CarelessQueue", { encryption: QueueEncryption.UNENCRYPTED });
    assert.throws(() => built.app.synth(), /Validation failed/);
    const report = readFileSync(join(built.app.outdir, "validation-report.json"), "utf8");
    for (const rule of ["AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"]) {
      assert.ok(report.includes(rule), rule);
    }
    assert.ok(report.includes("CarelessQueue"));
  });

  for (const [name, context] of CONFIGURATIONS) {
    it(`leaves no finding unacknowledged, error or warning (${name})`, () => {
      const built = name === "sandbox" ? sandbox : synthApp({ context });
      assert.deepEqual(findingsOf(built), []);
    });

    it(`acknowledges only findings that exist, each with a specific reason (${name})`, () => {
      const built = name === "sandbox" ? sandbox : synthApp({ context });
      const acknowledgements = acknowledgementsOf(built);
      const hidden = findingsOf(withoutAcknowledgements(context));
      assert.ok(hidden.length > 0);
      for (const acknowledgement of acknowledgements) {
        assert.match(acknowledgement.id, /^AwsSolutions-[A-Z]+\d+(\[.+\])?$/, acknowledgement.id);
        assert.ok(
          acknowledgement.reason.trim().length >= 80,
          `${acknowledgement.path}: a reason, not a shrug`,
        );
        const covers = hidden.filter(
          (finding) =>
            finding.rule === acknowledgement.id &&
            (finding.path === acknowledgement.path || finding.path.startsWith(`${acknowledgement.path}/`)),
        );
        assert.ok(
          covers.length > 0,
          `${acknowledgement.path} ${acknowledgement.id} suppresses a real finding`,
        );
      }
      for (const finding of hidden) {
        assert.ok(
          acknowledgements.some(
            (a) =>
              a.id === finding.rule && (finding.path === a.path || finding.path.startsWith(`${a.path}/`)),
          ),
          `${finding.path} ${finding.rule} is acknowledged`,
        );
      }
    });
  }

  it("acknowledges exactly these rules (a new one needs a reviewed reason here)", () => {
    const summary = (built: BuiltApp) =>
      [
        ...new Set(
          acknowledgementsOf(built).map((a) => `${a.id} @ ${a.path.split("/").slice(1, 3).join("/")}`),
        ),
      ].sort();
    const iam5Star = "AwsSolutions-IAM5[Resource::*]";
    const channels = (prefix: string) =>
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${prefix}*] @ ReadApi/Handler`;
    const common = (prefix: string) => [
      `${iam5Star} @ Fanout/Handler`,
      "AwsSolutions-IAM5[Action::kms:GenerateDataKey*] @ Fanout/Handler",
      `${iam5Star} @ Ingest/Handler`,
      `${iam5Star} @ ReadApi/Handler`,
      `${iam5Star} @ Watch/Handler`,
      "AwsSolutions-SQS3 @ Fanout/FanoutFailureQueue",
      "AwsSolutions-SMG4 @ ReadApi/ContinueTokenKey",
      channels(prefix),
      channels(prefix).replace("ReadApi/Handler", "Watch/Handler"),
      `${iam5Star} @ WatcherSweeper/Handler`,
      channels(prefix).replace("ReadApi/Handler", "WatcherSweeper/Handler"),
      ...["*/*/v1/watchers/*", "*/GET/*", "*/POST/v1/watchers"].map(
        (path) =>
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<HttpApi>/${path}] @ ClientPolicies/NodeAgentPolicy`,
      ),
    ];
    assert.deepEqual(
      summary(sandbox),
      [
        ...common("sliceline-watcher-"),
        "AwsSolutions-DDB3 @ Tables/IdentitiesTable",
        "AwsSolutions-DDB3 @ Tables/SlicesTable",
        "AwsSolutions-DDB3 @ Tables/StateTable",
        "AwsSolutions-DDB3 @ Tables/WatchersTable",
      ].sort(),
    );
    // Production turns point-in-time recovery on: nothing to acknowledge for DDB3 there.
    assert.deepEqual(summary(synthApp({ context: CONFIGURATIONS[1][1] })), common("prod-w-").sort());
  });
});
