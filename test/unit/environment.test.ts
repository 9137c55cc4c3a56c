import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  changeTopicArnsFromEnvironment,
  EnvironmentError,
  fanoutFormatFromEnvironment,
  readFanoutEnvironment,
  readIngestEnvironment,
  slicingSettingsFromEnvironment,
} from "#functions/commons/environment.ts";
import { InvalidEndpointSliceSettingsError } from "#shared/core/endpointslice/settings.ts";
import { InvalidLabelPolicyError } from "#shared/core/identity/security-labels.ts";

describe("environment", () => {
  it("names every missing variable at once", () => {
    assert.throws(
      () => readIngestEnvironment({ SLICELINE_STATE_TABLE: "s", SLICELINE_IDENTITIES_TABLE: "" }),
      (error: Error) =>
        error instanceof EnvironmentError &&
        /SLICELINE_SLICES_TABLE: required/.test(error.message) &&
        /SLICELINE_IDENTITIES_TABLE: required/.test(error.message) &&
        /SLICELINE_DEAD_LETTER_QUEUE_URL: required/.test(error.message) &&
        !/SLICELINE_STATE_TABLE/.test(error.message),
    );
    const ingest = {
      SLICELINE_STATE_TABLE: "st",
      SLICELINE_SLICES_TABLE: "sl",
      SLICELINE_IDENTITIES_TABLE: "id",
      SLICELINE_DEAD_LETTER_QUEUE_URL: "http://dlq",
    };
    const read = readIngestEnvironment(ingest);
    assert.deepEqual(read.tables, { stateTable: "st", slicesTable: "sl", identitiesTable: "id" });
    assert.equal(read.deadLetterQueueUrl, "http://dlq");
    assert.equal(read.writeBudget, undefined);
  });

  it("reads the write budget, which needs the watchers table", () => {
    const ingest = {
      SLICELINE_STATE_TABLE: "st",
      SLICELINE_SLICES_TABLE: "sl",
      SLICELINE_IDENTITIES_TABLE: "id",
      SLICELINE_DEAD_LETTER_QUEUE_URL: "http://dlq",
    };
    assert.deepEqual(
      readIngestEnvironment({ ...ingest, SLICELINE_WRITE_BUDGET: "50", SLICELINE_WATCHERS_TABLE: "w" })
        .writeBudget,
      { baseWritesPerSecond: 50, watchersTable: "w" },
    );
    assert.throws(
      () => readIngestEnvironment({ ...ingest, SLICELINE_WRITE_BUDGET: "50" }),
      (error: Error) => error instanceof EnvironmentError && /SLICELINE_WATCHERS_TABLE/.test(error.message),
    );
    assert.throws(
      () => readIngestEnvironment({ ...ingest, SLICELINE_WRITE_BUDGET: "-1", SLICELINE_WATCHERS_TABLE: "w" }),
      (error: Error) =>
        error instanceof EnvironmentError &&
        /SLICELINE_WRITE_BUDGET: must be a positive number/.test(error.message),
    );
  });

  it("reads slicing settings from JSON, with the core's own validation", () => {
    const settings = slicingSettingsFromEnvironment({
      SLICELINE_SLICING_SETTINGS: JSON.stringify({
        maxEndpointsPerSlice: 200,
        identityLabels: "app !pod-template-hash",
      }),
    });
    assert.equal(settings.maxEndpointsPerSlice, 200);
    assert.equal(settings.maxEndpointsPerCES, 50);
    assert.throws(
      () => slicingSettingsFromEnvironment({ SLICELINE_SLICING_SETTINGS: "{" }),
      EnvironmentError,
    );
    assert.throws(
      () => slicingSettingsFromEnvironment({ SLICELINE_SLICING_SETTINGS: '{"maxEndpointsPerSlice": 0}' }),
      InvalidEndpointSliceSettingsError,
    );
    assert.throws(
      () => slicingSettingsFromEnvironment({ SLICELINE_SLICING_SETTINGS: '{"unknownKnob": 1}' }),
      EnvironmentError,
    );
    assert.throws(
      () => slicingSettingsFromEnvironment({ SLICELINE_SLICING_SETTINGS: '{"identityLabels": "("}' }),
      InvalidLabelPolicyError,
    );
  });

  it("reads the change topics", () => {
    const arns = { EndpointSlice: "arn:aws:sns:eu-west-1:1:a" };
    assert.deepEqual(
      changeTopicArnsFromEnvironment({ SLICELINE_CHANGE_TOPIC_ARNS: JSON.stringify(arns) }),
      arns,
    );
    assert.throws(
      () => changeTopicArnsFromEnvironment({ SLICELINE_CHANGE_TOPIC_ARNS: '{"x":"nope"}' }),
      EnvironmentError,
    );
  });

  it("reads the fan-out's environment: topics required, the state table optional", () => {
    const topics = JSON.stringify({ EndpointSlice: "arn:aws:sns:eu-west-1:1:a" });
    assert.deepEqual(readFanoutEnvironment({ SLICELINE_CHANGE_TOPIC_ARNS: topics }), {
      topicArns: { EndpointSlice: "arn:aws:sns:eu-west-1:1:a" },
      format: "bundles",
      stateTable: undefined,
    });
    assert.throws(
      () => readFanoutEnvironment({}),
      (error: Error) =>
        error instanceof EnvironmentError && /SLICELINE_CHANGE_TOPIC_ARNS/.test(error.message),
    );
  });

  it("reads the fan-out format, bundles by default", () => {
    assert.equal(fanoutFormatFromEnvironment({}), "bundles");
    assert.equal(fanoutFormatFromEnvironment({ SLICELINE_FANOUT_FORMAT: "objects" }), "objects");
    assert.throws(
      () => fanoutFormatFromEnvironment({ SLICELINE_FANOUT_FORMAT: "json" }),
      (error: Error) => error instanceof EnvironmentError && /SLICELINE_FANOUT_FORMAT/.test(error.message),
    );
  });
});
