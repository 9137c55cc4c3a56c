/**
 * Wiring for the bridge's tests: a kubeconfig for the fake apiserver, and a transport that
 * keeps what it was given (or fails on demand) instead of calling SQS.
 */
import { KubeConfig } from "@kubernetes/client-node";
import type { PackedBatch } from "#shared/bridge/message-packer.ts";
import type { BatchTransport, FailedEntry } from "#shared/bridge/sqs-transport.ts";

export function kubeConfigFor(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "fake", server, skipTLSVerify: true }],
    users: [{ name: "tester" }],
    contexts: [{ name: "fake", cluster: "fake", user: "tester" }],
    currentContext: "fake",
  });
  return config;
}

/** Keeps every batch; `failing` makes calls throw (SQS unreachable) until cleared. */
export class RecordingTransport implements BatchTransport {
  readonly batches: PackedBatch[] = [];
  failing = false;
  calls = 0;

  async send(batch: PackedBatch): Promise<readonly FailedEntry[]> {
    this.calls++;
    if (this.failing) throw Object.assign(new Error("connect ECONNREFUSED"), { name: "NetworkingError" });
    this.batches.push(batch);
    return [];
  }

  /** Every event sent, parsed, in send order. */
  events(): Array<Record<string, unknown>> {
    return this.batches.flatMap((batch) =>
      batch.bodies.flatMap(
        (body) => (JSON.parse(body.body) as { events: Array<Record<string, unknown>> }).events,
      ),
    );
  }
}
