import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  changeTopicArnsFromEnvironment,
  EnvironmentError,
  fanoutFormatFromEnvironment,
  requireEnvironment,
  slicingSettingsFromEnvironment,
} from "#shared/config/environment.ts";
import { InvalidEndpointSliceSettingsError } from "#shared/core/endpointslice/settings.ts";
import { InvalidLabelPolicyError } from "#shared/core/identity/security-labels.ts";

describe("environment", () => {
  it("names every missing variable at once", () => {
    assert.throws(
      () => requireEnvironment(["stateTable", "slicesTable"], { SLICELINE_STATE_TABLE: "s" }),
      (error: Error) => error instanceof EnvironmentError && /SLICELINE_SLICES_TABLE/.test(error.message),
    );
    assert.deepEqual(requireEnvironment(["stateTable"], { SLICELINE_STATE_TABLE: "s" }), { stateTable: "s" });
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

  it("reads the fan-out format, bundles by default", () => {
    assert.equal(fanoutFormatFromEnvironment({}), "bundles");
    assert.equal(fanoutFormatFromEnvironment({ SLICELINE_FANOUT_FORMAT: "objects" }), "objects");
    assert.throws(
      () => fanoutFormatFromEnvironment({ SLICELINE_FANOUT_FORMAT: "json" }),
      (error: Error) => error instanceof EnvironmentError && /SLICELINE_FANOUT_FORMAT/.test(error.message),
    );
  });
});
