/**
 * The per-node cost floor (issue 11, item 3): what any design that delivers over per-node SQS queues
 * must pay at least, and what the other way to do it, Cilium's kvstore mode on a self-managed etcd
 * cluster, costs for the same load; both per node per month, beside sliceline's modelled cost.
 *
 *   delivery floor  one message per node per batching window in which anything changed, received
 *                   and deleted: a ReceiveMessage (one request per 64 KB chunk of what it returns)
 *                   and a DeleteMessage per message; empty long polls only in windows without
 *                   changes. No publishing, no storage, no compute: the delivery alone.
 *   etcd cluster    3 or 5 members on EC2 sized from etcd's hardware guide and from the benchmark's
 *                   measured etcd CPU per watch event, gp3 volumes, and the watch traffic that crosses
 *                   Availability Zones.
 *
 * Pure functions of their inputs and the price book (bench/aws-prices.json).
 */
import {
  type CostLine,
  costPerMillionPodChanges,
  type MonthlyCost,
  type PriceBook,
  SECONDS_PER_MONTH,
  usdFor,
} from "./cost-model.ts";

const SQS_PRICE = "sqs.standardRequest";
/** SQS bills every 64 KB chunk of a request's payload as one request. */
export const SQS_CHUNK_BYTES = 64 * 1024;
/** The agents' long poll (WatcherAgent.run, NodeAgent: WaitTimeSeconds 20, SQS's maximum). */
export const AGENT_LONG_POLL_SECONDS = 20;

export interface DeliveryFloorInput {
  /** The ingest batching window (infra/settings.ts ingestBatchWindowSeconds, default 1 s). */
  readonly windowSeconds: number;
  readonly podChangesPerSecond: number;
  /** Size of one window's message (what the receive returns): billed in 64 KB chunks. */
  readonly messageBytes: number;
  /** Long-poll wait of an idle queue (default 20 s). */
  readonly longPollSeconds?: number;
}

export interface DeliveryFloor {
  readonly windowSeconds: number;
  readonly podChangesPerSecond: number;
  readonly messageBytes: number;
  /** Windows per month in which at least one pod change happens (Poisson arrivals). */
  readonly deliveringWindowShare: number;
  readonly messagesPerNodePerMonth: number;
  readonly receiveRequestsPerNodePerMonth: number;
  readonly deleteRequestsPerNodePerMonth: number;
  readonly emptyReceivesPerNodePerMonth: number;
  readonly requestsPerNodePerMonth: number;
  readonly usdPerNodePerMonth: number;
}

/**
 * The floor of delivering to one node: one message per window with any change (every pod change
 * reaches every node: a zone-only agent still takes every Cilium change), received and deleted.
 */
export function deliveryFloor(input: DeliveryFloorInput, book: PriceBook): DeliveryFloor {
  const { windowSeconds, podChangesPerSecond, messageBytes } = input;
  if (!(windowSeconds > 0)) throw new RangeError("windowSeconds must be > 0");
  if (!(podChangesPerSecond >= 0) || !(messageBytes >= 0))
    throw new RangeError("podChangesPerSecond and messageBytes must be ≥ 0");
  const longPoll = input.longPollSeconds ?? AGENT_LONG_POLL_SECONDS;
  const windows = SECONDS_PER_MONTH / windowSeconds;
  const deliveringWindowShare = 1 - Math.exp(-podChangesPerSecond * windowSeconds);
  const messages = windows * deliveringWindowShare;
  const receiveRequests = messages * Math.max(1, Math.ceil(messageBytes / SQS_CHUNK_BYTES));
  const deleteRequests = messages;
  // An idle queue's long poll returns empty once per wait; a busy window's poll returns its message.
  const emptyReceives = (windows * (1 - deliveringWindowShare) * windowSeconds) / longPoll;
  const requests = receiveRequests + deleteRequests + emptyReceives;
  return {
    windowSeconds,
    podChangesPerSecond,
    messageBytes,
    deliveringWindowShare,
    messagesPerNodePerMonth: messages,
    receiveRequestsPerNodePerMonth: receiveRequests,
    deleteRequestsPerNodePerMonth: deleteRequests,
    emptyReceivesPerNodePerMonth: emptyReceives,
    requestsPerNodePerMonth: requests,
    usdPerNodePerMonth: usdFor(book, SQS_PRICE, requests),
  };
}

export const DELIVERY_FLOOR_ASSUMPTIONS = [
  "Delivery floor: one SQS message per node per ingest batching window in which any pod changed (share of windows = 1 − e^(−rate × window)), each received once and deleted once: ReceiveMessage billed per 64 KB chunk of the message, DeleteMessage one request. SNS→SQS deliveries are free (price book); publishing, storage and compute are not part of the floor.",
  `Empty receives: a queue long-polls with a ${AGENT_LONG_POLL_SECONDS} s wait, so an idle queue costs one empty ReceiveMessage per ${AGENT_LONG_POLL_SECONDS} s and a window with a message none. The node agent does more: after a receive that returned messages it polls again with a 1 s wait (shared/agent/node-agent.ts), which returns empty whenever the next message is more than 1 s away; with a state directory it deletes in batches (DeleteMessageBatch, up to 10) every snapshot interval, fewer requests than one delete per message.`,
];

/** An etcd member's machine: an EC2 type priced in the price book. */
export interface InstanceType {
  readonly priceId: string;
  readonly name: string;
  readonly vcpus: number;
  readonly memoryGiB: number;
}

/** Cheapest first. The m5 types: the current successors of the m4 types etcd's guide names. */
export const ETCD_INSTANCE_TYPES: readonly InstanceType[] = [
  { priceId: "ec2.m5.large", name: "m5.large", vcpus: 2, memoryGiB: 8 },
  { priceId: "ec2.m5.xlarge", name: "m5.xlarge", vcpus: 4, memoryGiB: 16 },
  { priceId: "ec2.m5.2xlarge", name: "m5.2xlarge", vcpus: 8, memoryGiB: 32 },
  { priceId: "ec2.m5.4xlarge", name: "m5.4xlarge", vcpus: 16, memoryGiB: 64 },
  { priceId: "ec2.m5.12xlarge", name: "m5.12xlarge", vcpus: 48, memoryGiB: 192 },
];

/**
 * etcd's hardware guide, "Example hardware configurations" (AWS): the cluster classes by clients,
 * requests per second and data size, and the machine each gets.
 */
export interface EtcdGuidanceTier {
  readonly name: string;
  /** Fewer than this many clients ... */
  readonly maxClients: number;
  /** ... and fewer than this many requests per second. */
  readonly maxRequestsPerSecond: number;
  readonly vcpus: number;
  readonly memoryGiB: number;
  readonly awsExample: string;
}

export const ETCD_GUIDANCE_SOURCE =
  "etcd hardware recommendations, Example hardware configurations: https://etcd.io/docs/v3.4/op-guide/hardware/ (Documentation/op-guide/hardware.md in etcd-io/etcd)";

export const ETCD_GUIDANCE_TIERS: readonly EtcdGuidanceTier[] = [
  {
    name: "small",
    maxClients: 100,
    maxRequestsPerSecond: 200,
    vcpus: 2,
    memoryGiB: 8,
    awsExample: "m4.large",
  },
  {
    name: "medium",
    maxClients: 500,
    maxRequestsPerSecond: 1_000,
    vcpus: 4,
    memoryGiB: 16,
    awsExample: "m4.xlarge",
  },
  {
    name: "large",
    maxClients: 1_500,
    maxRequestsPerSecond: 10_000,
    vcpus: 8,
    memoryGiB: 32,
    awsExample: "m4.2xlarge",
  },
  {
    name: "xLarge",
    maxClients: Number.POSITIVE_INFINITY,
    maxRequestsPerSecond: Number.POSITIVE_INFINITY,
    vcpus: 16,
    memoryGiB: 64,
    awsExample: "m4.4xlarge",
  },
];

export function guidanceTier(clients: number, requestsPerSecond: number): EtcdGuidanceTier {
  const tier = ETCD_GUIDANCE_TIERS.find(
    (candidate) => clients < candidate.maxClients && requestsPerSecond < candidate.maxRequestsPerSecond,
  );
  return tier ?? (ETCD_GUIDANCE_TIERS.at(-1) as EtcdGuidanceTier);
}

/** What Cilium's kvstore mode asks of etcd at one fleet size (from the benchmark's etcd peer). */
export interface EtcdLoad {
  readonly nodes: number;
  readonly podChangesPerSecond: number;
  /** Key writes (IP and identity keys) per pod change: the peer's objectWrites ÷ pod changes. */
  readonly keyWritesPerPodChange: number;
  /** Watch events per pod change per node: the peer's deliveries ÷ pod changes ÷ watchers. */
  readonly watchEventsPerPodChangePerNode: number;
  /** Key + value bytes of one watch event (the peer's bytes ÷ deliveries; protocol framing not counted). */
  readonly bytesPerWatchEvent: number;
  /** etcd CPU seconds per watch event delivered, measured (the peer's etcd CPU ÷ deliveries). */
  readonly cpuSecondsPerWatchEvent: number;
}

export interface EtcdSizingOptions {
  /** 3 or 5 (default 3). */
  readonly members?: 3 | 5;
  /** Highest planned CPU use of a member (default 0.5: room for bursts and compaction). */
  readonly targetCpuUtilization?: number;
  /** gp3 volume per member (default 50 GB: etcd's 8 GB default quota several times over). */
  readonly volumeGb?: number;
  /** Share of the watch traffic that crosses an AZ (default 2/3: members in 3 AZs, clients anywhere). */
  readonly crossAzShare?: number;
  /** Lease keep-alives per agent per second (Cilium's kvstore session lease; default one per 5 minutes). */
  readonly keepalivesPerNodePerSecond?: number;
}

export interface EtcdCluster {
  readonly nodes: number;
  readonly members: number;
  readonly clients: number;
  readonly requestsPerSecond: number;
  readonly watchEventsPerSecond: number;
  readonly tier: EtcdGuidanceTier;
  /** Cores the watch fan-out takes on the whole cluster at the measured cost per event. */
  readonly measuredCpuCores: number;
  /** vCPUs a member needs: its share of the fan-out with one member down, at the target use. */
  readonly cpuVcpusPerMember: number;
  readonly instance: InstanceType;
  /** What sized the instance: the guidance's class, or the measured CPU. */
  readonly sizedBy: "guidance" | "measured CPU";
  /** The measured need exceeds the largest priced type (priced at the largest: an underestimate). */
  readonly exceedsLargestType: boolean;
  readonly instancesUsdPerMonth: number;
  readonly volumesUsdPerMonth: number;
  readonly transferGbPerMonth: number;
  readonly transferUsdPerMonth: number;
  readonly totalUsdPerMonth: number;
  readonly usdPerNodePerMonth: number;
}

const GB = 1e9;

/**
 * A self-managed etcd cluster for Cilium's kvstore mode at `load.nodes` nodes: every agent is a
 * client holding watches on the whole prefix, so every IP-key write is one watch event per node.
 * The instance is the larger of what etcd's guide gives the client and request counts and what the
 * measured CPU per watch event needs when one member is down and its clients moved to the others.
 */
export function sizeEtcdCluster(
  load: EtcdLoad,
  book: PriceBook,
  options: EtcdSizingOptions = {},
): EtcdCluster {
  const members = options.members ?? 3;
  const target = options.targetCpuUtilization ?? 0.5;
  const volumeGb = options.volumeGb ?? 50;
  const crossAzShare = options.crossAzShare ?? 2 / 3;
  const keepalives = options.keepalivesPerNodePerSecond ?? 1 / 300;
  const writesPerSecond = load.keyWritesPerPodChange * load.podChangesPerSecond;
  const watchEventsPerSecond = load.watchEventsPerPodChangePerNode * load.podChangesPerSecond * load.nodes;
  // Clients: one per agent, plus the operator.
  const clients = load.nodes + 1;
  const requestsPerSecond = writesPerSecond + load.nodes * keepalives;
  const tier = guidanceTier(clients, requestsPerSecond);
  const measuredCpuCores = watchEventsPerSecond * load.cpuSecondsPerWatchEvent;
  const cpuVcpusPerMember = measuredCpuCores / Math.max(1, members - 1) / target;
  const vcpus = Math.max(tier.vcpus, cpuVcpusPerMember);
  const fitting = ETCD_INSTANCE_TYPES.find((type) => type.vcpus >= vcpus && type.memoryGiB >= tier.memoryGiB);
  const instance = fitting ?? (ETCD_INSTANCE_TYPES.at(-1) as InstanceType);
  const hours = SECONDS_PER_MONTH / 3600;
  const instancesUsdPerMonth = usdFor(book, instance.priceId, members * hours);
  const volumesUsdPerMonth = usdFor(book, "ebs.gp3GbMonth", members * volumeGb);
  // Watch events to the agents (the share crossing an AZ) plus Raft replicating each write to the followers.
  const watchBytes = watchEventsPerSecond * load.bytesPerWatchEvent * crossAzShare;
  const raftBytes = writesPerSecond * load.bytesPerWatchEvent * (members - 1);
  const transferGbPerMonth = ((watchBytes + raftBytes) * SECONDS_PER_MONTH) / GB;
  // Billed on both sides of the AZ boundary.
  const transferUsdPerMonth = usdFor(book, "ec2.interAzTransferGb", 2 * transferGbPerMonth);
  const totalUsdPerMonth = instancesUsdPerMonth + volumesUsdPerMonth + transferUsdPerMonth;
  return {
    nodes: load.nodes,
    members,
    clients,
    requestsPerSecond,
    watchEventsPerSecond,
    tier,
    measuredCpuCores,
    cpuVcpusPerMember,
    instance,
    sizedBy: cpuVcpusPerMember > tier.vcpus ? "measured CPU" : "guidance",
    exceedsLargestType: fitting === undefined,
    instancesUsdPerMonth,
    volumesUsdPerMonth,
    transferGbPerMonth,
    transferUsdPerMonth,
    totalUsdPerMonth,
    usdPerNodePerMonth: load.nodes === 0 ? 0 : totalUsdPerMonth / load.nodes,
  };
}

/**
 * The etcd peer's figures when a run has none. Deliveries and bytes: `npm run bench -- steady
 * --scale 0.01 --watchers 1000` (docs/benchmark.md: 282.6 deliveries and 38,184 B per pod change at
 * 1,000 watchers). CPU: `node scripts/bench-etcd.ts --watchers 1000 --rate 100 --seconds 30 --pods
 * 2000` (its churn trace: ~39,800 watch events/s at 1,000 watchers), etcd 0.28 core in the run
 * docs/benchmark.md quotes (7.0 µs per event) and 0.21 core on 2026-12-05 (5.2 µs, other processes
 * busy on the same cores); the higher is kept.
 */
export const MEASURED_ETCD_DEFAULTS = {
  keyWritesPerPodChange: 0.559,
  watchEventsPerPodChangePerNode: 0.2826,
  bytesPerWatchEvent: 135,
  cpuSecondsPerWatchEvent: 7.0e-6,
  source:
    "the benchmark's etcd peer (steady at 1,000 watchers, bench-results/steady-2026-12-06T00-09-51-901Z.json: 894 IP-key and 875 identity-key writes for 3,163 pod changes, 282.6 watch events and 38,184 B per pod change; scripts/bench-etcd.ts at 1,000 watchers: etcd 0.28 core for ~39,800 watch events/s)",
} as const;

export const ETCD_ASSUMPTIONS = [
  `etcd cluster: Cilium's kvstore mode (https://docs.cilium.io/en/stable/kvstore/): every agent registers its node and mirrors its endpoints' IPs and identities, and watches the others'; so each IP-key write is a watch event to every node (the peer's deliveries per pod change per watcher). Clients = nodes + the operator; requests/s = key writes + one lease keep-alive per agent per 5 min (assumed).`,
  `Instance: the larger of etcd's class for those clients and requests (${ETCD_GUIDANCE_SOURCE}: fewer than 100/500/1,500 clients → 2/4/8 vCPUs, more → 16 vCPUs, 64 GB; m4 types there, their m5 successors priced here) and the measured etcd CPU per watch event × events/s, spread over the members left with one down, at ≤ 50% use. The measured CPU is this machine's cores (one etcd 3.4 member, the benchmark's etcd peer); a vCPU is taken as one such core.`,
  "Storage: one 50 GB gp3 volume per member (3,000 IOPS and 125 MiB/s included; etcd's guide asks ~500 sequential IOPS of a heavily loaded cluster). Transfer: watch events crossing an AZ (2/3 of them with members in 3 AZs) and Raft replication, billed $0.01/GB on each side; bytes are key + value as the peer measured them, gRPC/HTTP/2 framing and TLS not counted (a lower bound). Operating the cluster (people, backups, upgrades) is not priced.",
];

/** sliceline's cost at one size, per node, by AWS service. */
export interface PerNodeByService {
  readonly service: string;
  readonly usdPerNodePerMonth: number;
}

export function perNodeByService(monthly: MonthlyCost, book: PriceBook): PerNodeByService[] {
  if (monthly.watchers === 0) return [];
  const podChangesPerMonth = monthly.podChangesPerSecond * SECONDS_PER_MONTH;
  const totals = new Map<string, number>();
  const add = (service: string, usd: number) => totals.set(service, (totals.get(service) ?? 0) + usd);
  const lines: readonly CostLine[] = costPerMillionPodChanges(monthly.projected, book).lines;
  for (const line of lines) {
    const service = book.entries.find((entry) => entry.id === line.priceId)?.service ?? line.priceId;
    add(labelOf(service, line.kind), (line.usdPerMillionPodChanges * podChangesPerMonth) / 1_000_000);
  }
  if (monthly.idlePollingUsdPerMonth > 0) add("Amazon SQS (watcher queues)", monthly.idlePollingUsdPerMonth);
  return [...totals]
    .map(([service, usd]) => ({ service, usdPerNodePerMonth: usd / monthly.watchers }))
    .sort((a, b) => b.usdPerNodePerMonth - a.usdPerNodePerMonth);
}

/** SQS splits into the per-node part (watcher queues) and the shared part (the ingest queues and whatever else the pipeline calls). */
function labelOf(service: string, kind: string): string {
  if (service !== "Amazon SQS") return service;
  return /watcher/i.test(kind) ? "Amazon SQS (watcher queues)" : "Amazon SQS (ingest, shared)";
}

export interface CostFloorRow {
  readonly nodes: number;
  readonly slicelineUsdPerNodePerMonth: number;
  readonly floorUsdPerNodePerMonth: number;
  readonly etcdUsdPerNodePerMonth: number;
  /** sliceline ÷ floor. */
  readonly ratioToFloor: number;
  readonly byService: readonly PerNodeByService[];
  readonly etcd: EtcdCluster;
  /** The capacity model's first limit at this size (capacity-model.ts), when given. */
  readonly firstLimit?: FirstLimit;
}

export interface FirstLimit {
  readonly what: string;
  readonly utilization: number;
}

/** Another priced strategy per node per month, beside the same floor. */
export interface OtherStrategyPerNode {
  readonly strategy: string;
  readonly measurement: string;
  readonly measuredWatchers: number;
  readonly rows: readonly {
    readonly nodes: number;
    readonly usdPerNodePerMonth: number;
    readonly ratioToFloor: number;
  }[];
}

export interface CostFloorSection {
  /** The strategy priced as "sliceline" (the model's sliceline-best). */
  readonly strategy: string;
  readonly podChangesPerSecond: number;
  readonly floor: DeliveryFloor;
  /** The etcd peer's figures the cluster is sized from (per pod change and per watch event). */
  readonly etcdLoad: CostFloorInput["etcd"];
  readonly rows: readonly CostFloorRow[];
  /** Every other priced strategy (the live pass, the same-scope model) per node, beside the floor. */
  readonly others: readonly OtherStrategyPerNode[];
  /** Issue 11's goal: sliceline at 5,000 nodes ≤ 2× the floor. */
  readonly goal: {
    readonly nodes: number;
    readonly maxRatio: number;
    readonly ratio: number | undefined;
    readonly holds: boolean | undefined;
  };
  readonly assumptions: readonly string[];
}

export const COST_FLOOR_GOAL = { nodes: 5000, maxRatio: 2 } as const;

/** The prices the floor and the etcd cluster need (a price book without them gets no table). */
export const COST_FLOOR_PRICE_IDS: readonly string[] = [
  SQS_PRICE,
  "ebs.gp3GbMonth",
  "ec2.interAzTransferGb",
  ...ETCD_INSTANCE_TYPES.map((type) => type.priceId),
];

export interface CostFloorInput {
  readonly strategy: string;
  readonly podChangesPerSecond: number;
  readonly windowSeconds: number;
  /** The strategy's mean message size (bytes ÷ deliveries per pod change). */
  readonly messageBytes: number;
  /** The strategy's monthly cost at each size (cost-model monthlyCost). */
  readonly sizes: readonly MonthlyCost[];
  /** The capacity model's first limit at each of `sizes` (same order). */
  readonly firstLimits?: readonly (FirstLimit | undefined)[];
  readonly others?: readonly {
    readonly strategy: string;
    readonly measurement: string;
    readonly measuredWatchers: number;
    readonly sizes: readonly MonthlyCost[];
  }[];
  readonly etcd: Omit<EtcdLoad, "nodes" | "podChangesPerSecond"> & { readonly source: string };
}

export function costFloorSection(input: CostFloorInput, book: PriceBook): CostFloorSection {
  const floor = deliveryFloor(
    {
      windowSeconds: input.windowSeconds,
      podChangesPerSecond: input.podChangesPerSecond,
      messageBytes: input.messageBytes,
    },
    book,
  );
  const perNode = (monthly: MonthlyCost) =>
    monthly.watchers === 0 ? 0 : monthly.totalUsdPerMonth / monthly.watchers;
  const ratio = (usd: number) =>
    floor.usdPerNodePerMonth === 0 ? Number.POSITIVE_INFINITY : usd / floor.usdPerNodePerMonth;
  const rows = input.sizes.map((monthly, index): CostFloorRow => {
    const firstLimit = input.firstLimits?.[index];
    const nodes = monthly.watchers;
    const sliceline = perNode(monthly);
    const etcd = sizeEtcdCluster(
      { ...input.etcd, nodes, podChangesPerSecond: input.podChangesPerSecond },
      book,
    );
    return {
      nodes,
      slicelineUsdPerNodePerMonth: sliceline,
      floorUsdPerNodePerMonth: floor.usdPerNodePerMonth,
      etcdUsdPerNodePerMonth: etcd.usdPerNodePerMonth,
      ratioToFloor: ratio(sliceline),
      byService: perNodeByService(monthly, book),
      etcd,
      ...(firstLimit === undefined ? {} : { firstLimit }),
    };
  });
  const others = (input.others ?? []).map((other) => ({
    strategy: other.strategy,
    measurement: other.measurement,
    measuredWatchers: other.measuredWatchers,
    rows: other.sizes.map((monthly) => ({
      nodes: monthly.watchers,
      usdPerNodePerMonth: perNode(monthly),
      ratioToFloor: ratio(perNode(monthly)),
    })),
  }));
  const atGoal = rows.find((row) => row.nodes === COST_FLOOR_GOAL.nodes);
  return {
    strategy: input.strategy,
    podChangesPerSecond: input.podChangesPerSecond,
    floor,
    etcdLoad: input.etcd,
    rows,
    others,
    goal: {
      ...COST_FLOOR_GOAL,
      ratio: atGoal?.ratioToFloor,
      holds: atGoal === undefined ? undefined : atGoal.ratioToFloor <= COST_FLOOR_GOAL.maxRatio,
    },
    assumptions: [...DELIVERY_FLOOR_ASSUMPTIONS, ...ETCD_ASSUMPTIONS],
  };
}
