/**
 * The fan-out channels: SNS topics by scope, not per-watcher filter policies (SNS allows 200 filter
 * policies per topic by default; 5,000 watchers would need 25 times that). A watcher's queue
 * subscribes, unfiltered, to the scopes it wants (shared/fanout/change-routing.ts):
 *   EndpointSlice          every EndpointSlice change (the "all" topic),
 *   EndpointSlice@<zone>   the same slices cut down to one zone (topology-aware subsetting),
 *   Cilium                 CiliumEndpointSlices and CiliumIdentities,
 *   Agent@<zone>           Cilium plus EndpointSlice@<zone> in one bundle per fan-out invocation,
 *                          for zone-only node agents (one delivery per agent per batch, not two).
 */
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

  constructor(scope: Construct, id: string, props: ChangeTopicsProps) {
    super(scope, id);
    const topics = new Map<string, Topic>();
    const add = (constructId: string, topicScope: string) => {
      if (topics.has(topicScope)) throw new Error(`duplicate change topic scope ${topicScope}`);
      topics.set(
        topicScope,
        new Topic(this, constructId, { displayName: `sliceline changes: ${topicScope}`, enforceSSL: true }),
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
