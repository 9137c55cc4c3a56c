import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ItemTooLargeError } from "#shared/adapters/dynamodb/group-commit.ts";
import { TransactionFailedError } from "#shared/adapters/dynamodb/transact.ts";
import { GroupConflictError } from "#shared/core/cluster-store.ts";
import { IdentityExhaustedError } from "#shared/core/identity/identity-allocator.ts";
import { classifyFailure } from "#shared/pipeline/failure-class.ts";
import { WriteBudgetExceededError } from "#shared/pipeline/write-budget.ts";

/** An error shaped like the AWS SDK v3's service exceptions. */
function sdkError(name: string, fault: "client" | "server", extra: Record<string, unknown> = {}): Error {
  const error = new Error(`${name} happened`);
  error.name = name;
  return Object.assign(
    error,
    { $fault: fault, $metadata: { httpStatusCode: fault === "server" ? 500 : 400 } },
    extra,
  );
}

describe("classifyFailure", () => {
  it("calls deterministic what the same events would raise again", () => {
    for (const error of [
      new IdentityExhaustedError("full"),
      new ItemTooLargeError("CiliumEndpointSlice x: item of about 500000 bytes"),
      sdkError("ValidationException", "client"),
      new RangeError("Invalid time value"),
      new TypeError("cannot read properties of undefined"),
      new TransactionFailedError("transaction cancelled: 0:None 1:ValidationError (Item size exceeded)"),
    ]) {
      assert.equal(classifyFailure(error), "deterministic", error.name);
    }
  });

  it("calls transient what belongs to the moment: throttling, 5xx, network, timeouts, lost races, the write budget", () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    for (const error of [
      sdkError("ProvisionedThroughputExceededException", "client"),
      sdkError("ThrottlingException", "client", { $retryable: { throttling: true } }),
      sdkError("InternalServerError", "server"),
      sdkError("ServiceUnavailable", "server"),
      sdkError("SomethingNew", "server"),
      sdkError("TransactionConflictException", "client"),
      reset,
      new TypeError("fetch failed", { cause: reset }),
      Object.assign(new Error("timed out"), { name: "TimeoutError" }),
      new GroupConflictError("shop", 3, 4),
      new WriteBudgetExceededError("would wait 9000 ms"),
      Object.assign(new SyntaxError("Unexpected token < in JSON"), { $metadata: { httpStatusCode: 502 } }),
    ]) {
      assert.equal(classifyFailure(error), "transient", `${error.name}: ${error.message}`);
    }
  });

  it("leaves the rest unclassified (retried a few times, then dead-lettered with the reason)", () => {
    for (const error of [
      new Error("intent of pending commit c1 of namespace shop is incomplete"),
      sdkError("AccessDeniedException", "client"),
      new TransactionFailedError("transaction cancelled: 0:None 1:SomethingElse"),
      // A garbled response is the service's problem, not the events'.
      Object.assign(new SyntaxError("Unexpected token < in JSON"), { $metadata: { httpStatusCode: 200 } }),
      "a string",
      undefined,
    ]) {
      assert.equal(classifyFailure(error), "unclassified", String(error));
    }
  });
});
