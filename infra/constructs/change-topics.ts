/**
 * The fan-out channels: SNS topics by scope, not per-watcher filter policies (SNS allows 200 filter
 * policies per topic by default; 5,000 watchers would need 25 times that). A watcher's queue
 * subscribes, unfiltered, to the scopes it wants (shared/fanout/change-routing.ts):
 *   EndpointSlice          every EndpointSlice change (the "all" topic),
 *   EndpointSlice@<zone>   the same slices cut down to one zone (topology-aware subsetting),
 *   Cilium                 CiliumEndpointSlices and CiliumIdentities,
 *   Agent@<zone>           Cilium plus EndpointSlice@<zone> in one bundle per fan-out invocation,
 *                          for zone-only node agents (one delivery per agent per batch, not two).
 *
 * Encrypted at rest with a customer-managed KMS key the stack creates (rotated yearly). SNS
 * decrypts a message just before delivering it, so the watcher queues (SQS-managed encryption)
 * need nothing from this key; the fan-out, the only publisher, is granted kms:GenerateDataKey* and
 * kms:Decrypt on it by Topic.grantPublish, as AWS documents for publishers to an SSE topic.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { Key } from "aws-cdk-lib/aws-kms";
import { Topic } from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import { agentScope, CILIUM_SCOPE, ENDPOINT_SLICE_SCOPE, zoneScope } from "#shared/fanout/change-routing.ts";

export interface ChangeTopicsProps {
  /** Zones that get their own EndpointSlice topic and node-agent topic. */
  readonly zones: readonly string[];
}

export class ChangeTopics extends Construct {
  /** Scope -> topic; the fan-out publishes by scope, the API subscribes watcher queues by scope. */
  readonly byScope: ReadonlyMap<string, Topic>;
  /** Encrypts every change topic. */
  readonly key: Key;

  constructor(scope: Construct, id: string, props: ChangeTopicsProps) {
    super(scope, id);
    this.key = topicKey(this, "Key", "sliceline change topics: server-side encryption");
    const topics = new Map<string, Topic>();
    const add = (constructId: string, topicScope: string) => {
      if (topics.has(topicScope)) throw new Error(`duplicate change topic scope ${topicScope}`);
      topics.set(
        topicScope,
        new Topic(this, constructId, {
          displayName: `sliceline changes: ${topicScope}`,
          enforceSSL: true,
          masterKey: this.key,
        }),
      );
    };
    add("EndpointSlice", ENDPOINT_SLICE_SCOPE);
    add("Cilium", CILIUM_SCOPE);
    for (const zone of props.zones) {
      add(`Zone-${zone}`, zoneScope(zone));
      add(`Agent-${zone}`, agentScope(zone));
    }
    this.byScope = topics;
  }
}

/**
 * A customer-managed key for SNS server-side encryption: rotated, and scheduled for deletion with
 * the stack (after the 7-day minimum waiting period). Nothing outlives its topics: SNS keeps a
 * message only until it is delivered, and a deleted topic keeps none.
 */
export function topicKey(scope: Construct, id: string, description: string): Key {
  return new Key(scope, id, {
    description,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.DESTROY,
    pendingWindow: Duration.days(7),
  });
}
