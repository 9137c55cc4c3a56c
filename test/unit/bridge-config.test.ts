/** The bridge's flags, environment variables and target files. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BridgeConfigError, parseBridgeConfig, queueTargetFromFile } from "#shared/bridge/bridge-config.ts";

describe("bridge configuration", () => {
  it("reads flags over environment variables, with defaults", () => {
    const config = parseBridgeConfig(
      ["--target", "t.json", "--senders=8", "--priority-namespaces", "kube-system, infra"],
      {
        SLICELINE_BRIDGE_SENDERS: "2",
        SLICELINE_BRIDGE_METRICS_PORT: "9464",
        SLICELINE_BRIDGE_KUBECONFIG: "/etc/kube",
      },
    );
    assert.equal(config.target, "t.json");
    assert.equal(config.senders, 8);
    assert.equal(config.metricsPort, 9464);
    assert.equal(config.kubeconfig, "/etc/kube");
    assert.deepEqual(config.priorityNamespaces, ["kube-system", "infra"]);
    assert.equal(config.maxQueueEvents, 100_000);
    assert.deepEqual(
      parseBridgeConfig([], { SLICELINE_BRIDGE_INGEST_QUEUE_URL: "http://q" }).priorityNamespaces,
      ["kube-system"],
    );
  });

  it("refuses what it cannot use, saying why", () => {
    assert.throws(() => parseBridgeConfig([], {}), BridgeConfigError);
    assert.throws(() => parseBridgeConfig(["--target"], {}), /--target needs a value/);
    assert.throws(() => parseBridgeConfig(["--target", "t", "--bogus", "1"], {}), /unknown argument --bogus/);
    assert.throws(
      () => parseBridgeConfig(["--target", "t", "--senders", "0"], {}),
      /senders: want an integer >= 1/,
    );
  });

  it("finds the queues in local.json or in stack outputs", () => {
    assert.deepEqual(
      queueTargetFromFile(
        {
          region: "us-east-1",
          sqs: {
            endpoint: "http://127.0.0.1:4566",
            ingestQueueUrl: "http://q/i",
            priorityIngestQueueUrl: "http://q/p",
          },
        },
        undefined,
      ),
      {
        ingestQueueUrl: "http://q/i",
        priorityQueueUrl: "http://q/p",
        sqsEndpoint: "http://127.0.0.1:4566",
        region: "us-east-1",
      },
    );
    const outputs = {
      Sliceline: {
        IngestQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123/ingest",
        PriorityIngestQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123/priority",
      },
      Other: { BucketName: "b" },
    };
    assert.deepEqual(queueTargetFromFile(outputs, undefined), {
      ingestQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123/ingest",
      priorityQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123/priority",
      sqsEndpoint: undefined,
      region: "eu-west-1",
    });
    assert.throws(() => queueTargetFromFile(outputs, "Missing"), /no stack Missing/);
    assert.throws(() => queueTargetFromFile({ sqs: {} }, undefined), /ingestQueueUrl is missing/);
  });
});
