/**
 * A small simulated Kubernetes API server: it keeps the objects of a cluster and emits the watch
 * events a real one would for each change (pods go Pending -> Running -> Ready, terminate, get
 * deleted; Services, Namespaces and Nodes change), with one global, increasing resourceVersion.
 *
 * The demo, the tests' traces and the benchmark's load generator all drive it, so every part of
 * the project sees the same realistic event shapes.
 */

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface SimEvent {
  readonly type: WatchEventType;
  readonly object: Record<string, unknown>;
}

export interface SimPod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  nodeName: string;
  ip: string | undefined;
  ipv6: string | undefined;
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  ready: boolean;
  deleting: boolean;
  hostNetwork: boolean;
  ports: Array<{ name?: string; containerPort: number; protocol?: string }>;
  resourceVersion: string;
}

export interface SimService {
  namespace: string;
  name: string;
  selector: Record<string, string> | undefined;
  ports: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }>;
  clusterIP: string;
  ipFamilies: string[] | undefined;
  type: string;
  publishNotReadyAddresses: boolean;
  resourceVersion: string;
}

export interface SimNode {
  name: string;
  zone: string | undefined;
  internalIP: string;
  heartbeats: number;
  resourceVersion: string;
}

export interface SimNamespace {
  name: string;
  labels: Record<string, string>;
  resourceVersion: string;
}

export class ClusterSimulator {
  readonly pods = new Map<string, SimPod>();
  readonly services = new Map<string, SimService>();
  readonly nodes = new Map<string, SimNode>();
  readonly namespaces = new Map<string, SimNamespace>();
  #revision: number;
  #nextPodIP = 1;
  #nextUid = 1;

  constructor(startRevision = 1) {
    this.#revision = startRevision;
  }

  get revision(): number {
    return this.#revision;
  }

  #nextRevision(): string {
    this.#revision++;
    return String(this.#revision);
  }

  addNamespace(name: string, labels: Record<string, string> = {}): SimEvent {
    const existing = this.namespaces.get(name);
    const namespace: SimNamespace = {
      name,
      labels: { "kubernetes.io/metadata.name": name, ...labels },
      resourceVersion: this.#nextRevision(),
    };
    this.namespaces.set(name, namespace);
    return { type: existing ? "MODIFIED" : "ADDED", object: namespaceObjectOf(namespace) };
  }

  relabelNamespace(name: string, labels: Record<string, string>): SimEvent {
    return this.addNamespace(name, labels);
  }

  addNode(name: string, zone: string | undefined): SimEvent {
    const index = this.nodes.size + 1;
    const node: SimNode = {
      name,
      zone,
      internalIP: `192.168.${(index >> 8) & 255}.${index & 255}`,
      heartbeats: 0,
      resourceVersion: this.#nextRevision(),
    };
    this.nodes.set(name, node);
    return { type: "ADDED", object: nodeObjectOf(node) };
  }

  /** A status heartbeat: a new resourceVersion and nothing sliceline reads. */
  heartbeatNode(name: string): SimEvent {
    const node = this.#require(this.nodes, name);
    node.heartbeats++;
    node.resourceVersion = this.#nextRevision();
    return { type: "MODIFIED", object: nodeObjectOf(node) };
  }

  moveNodeToZone(name: string, zone: string): SimEvent {
    const node = this.#require(this.nodes, name);
    node.zone = zone;
    node.resourceVersion = this.#nextRevision();
    return { type: "MODIFIED", object: nodeObjectOf(node) };
  }

  upsertService(
    spec: Omit<
      SimService,
      "resourceVersion" | "clusterIP" | "ipFamilies" | "type" | "publishNotReadyAddresses"
    > &
      Partial<Pick<SimService, "clusterIP" | "ipFamilies" | "type" | "publishNotReadyAddresses">>,
  ): SimEvent {
    const key = `${spec.namespace}/${spec.name}`;
    const existing = this.services.get(key);
    const service: SimService = {
      clusterIP:
        existing?.clusterIP ?? `10.96.${(this.services.size >> 8) & 255}.${this.services.size & 255}`,
      ipFamilies: undefined,
      type: "ClusterIP",
      publishNotReadyAddresses: false,
      ...spec,
      resourceVersion: this.#nextRevision(),
    };
    this.services.set(key, service);
    return { type: existing ? "MODIFIED" : "ADDED", object: serviceObjectOf(service) };
  }

  deleteService(namespace: string, name: string): SimEvent {
    const key = `${namespace}/${name}`;
    const service = this.#require(this.services, key);
    this.services.delete(key);
    service.resourceVersion = this.#nextRevision();
    return { type: "DELETED", object: serviceObjectOf(service) };
  }

  /** A new pod as the scheduler has just bound it: Pending, no IP yet. */
  createPod(
    namespace: string,
    name: string,
    labels: Record<string, string>,
    nodeName: string,
    options: { hostNetwork?: boolean; ports?: SimPod["ports"] } = {},
  ): SimEvent {
    const key = `${namespace}/${name}`;
    if (this.pods.has(key)) throw new Error(`pod ${key} exists`);
    const pod: SimPod = {
      namespace,
      name,
      uid: `00000000-0000-4000-8000-${(this.#nextUid++).toString(16).padStart(12, "0")}`,
      labels: { ...labels },
      nodeName,
      ip: undefined,
      ipv6: undefined,
      phase: "Pending",
      ready: false,
      deleting: false,
      hostNetwork: options.hostNetwork ?? false,
      ports: options.ports ?? [{ name: "http", containerPort: 8080, protocol: "TCP" }],
      resourceVersion: this.#nextRevision(),
    };
    this.pods.set(key, pod);
    return { type: "ADDED", object: podObjectOf(pod, this.nodes.get(nodeName)) };
  }

  /** The kubelet started the sandbox: the pod has its IP(s) and is Running, not yet Ready. */
  startPod(namespace: string, name: string, options: { dualStack?: boolean } = {}): SimEvent {
    return this.#modifyPod(namespace, name, (pod) => {
      if (pod.hostNetwork) {
        pod.ip = this.nodes.get(pod.nodeName)?.internalIP;
      } else {
        const n = this.#nextPodIP++;
        pod.ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
        if (options.dualStack) pod.ipv6 = `fd00::${n.toString(16)}`;
      }
      pod.phase = "Running";
    });
  }

  setPodReady(namespace: string, name: string, ready: boolean): SimEvent {
    return this.#modifyPod(namespace, name, (pod) => {
      pod.ready = ready;
    });
  }

  relabelPod(namespace: string, name: string, labels: Record<string, string>): SimEvent {
    return this.#modifyPod(namespace, name, (pod) => {
      pod.labels = { ...labels };
    });
  }

  finishPod(namespace: string, name: string, phase: "Succeeded" | "Failed"): SimEvent {
    return this.#modifyPod(namespace, name, (pod) => {
      pod.phase = phase;
      pod.ready = false;
    });
  }

  /** Graceful deletion begins: deletionTimestamp is set, the pod is terminating. */
  terminatePod(namespace: string, name: string): SimEvent {
    return this.#modifyPod(namespace, name, (pod) => {
      pod.deleting = true;
      pod.ready = false;
    });
  }

  deletePod(namespace: string, name: string): SimEvent {
    const key = `${namespace}/${name}`;
    const pod = this.#require(this.pods, key);
    this.pods.delete(key);
    pod.resourceVersion = this.#nextRevision();
    return { type: "DELETED", object: podObjectOf(pod, this.nodes.get(pod.nodeName)) };
  }

  /** A change of nothing sliceline reads (a pod annotation written by some controller). */
  annotatePod(namespace: string, name: string): SimEvent {
    return this.#modifyPod(namespace, name, () => {});
  }

  #modifyPod(namespace: string, name: string, change: (pod: SimPod) => void): SimEvent {
    const pod = this.#require(this.pods, `${namespace}/${name}`);
    change(pod);
    pod.resourceVersion = this.#nextRevision();
    return { type: "MODIFIED", object: podObjectOf(pod, this.nodes.get(pod.nodeName)) };
  }

  #require<T>(map: Map<string, T>, key: string): T {
    const value = map.get(key);
    if (value === undefined) throw new Error(`no such object ${key}`);
    return value;
  }
}

function podObjectOf(pod: SimPod, node: SimNode | undefined): Record<string, unknown> {
  const podIPs = [pod.ip, pod.ipv6].filter((ip): ip is string => ip !== undefined);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      resourceVersion: pod.resourceVersion,
      labels: pod.labels,
      annotations: { "sliceline.example/revision": pod.resourceVersion },
      ...(pod.deleting ? { deletionTimestamp: "2026-11-25T12:00:00Z" } : {}),
    },
    spec: {
      nodeName: pod.nodeName,
      hostNetwork: pod.hostNetwork,
      containers: [{ name: "app", image: "registry.example/app:1.0", ports: pod.ports }],
    },
    status: {
      phase: pod.phase,
      ...(node ? { hostIP: node.internalIP } : {}),
      ...(pod.ip ? { podIP: pod.ip } : {}),
      podIPs: podIPs.map((ip) => ({ ip })),
      conditions: [
        { type: "PodScheduled", status: "True" },
        { type: "Ready", status: pod.ready ? "True" : "False" },
      ],
    },
  };
}

function serviceObjectOf(service: SimService): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      namespace: service.namespace,
      name: service.name,
      uid: `svc-${service.namespace}-${service.name}`,
      resourceVersion: service.resourceVersion,
      labels: { app: service.name },
    },
    spec: {
      ...(service.selector ? { selector: service.selector } : {}),
      ports: service.ports,
      clusterIP: service.clusterIP,
      ...(service.ipFamilies ? { ipFamilies: service.ipFamilies } : {}),
      type: service.type,
      ...(service.publishNotReadyAddresses ? { publishNotReadyAddresses: true } : {}),
    },
  };
}

function namespaceObjectOf(namespace: SimNamespace): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: namespace.name, resourceVersion: namespace.resourceVersion, labels: namespace.labels },
  };
}

function nodeObjectOf(node: SimNode): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      resourceVersion: node.resourceVersion,
      labels: {
        "kubernetes.io/hostname": node.name,
        ...(node.zone ? { "topology.kubernetes.io/zone": node.zone } : {}),
      },
    },
    status: {
      addresses: [
        { type: "InternalIP", address: node.internalIP },
        { type: "Hostname", address: node.name },
      ],
      conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: `heartbeat-${node.heartbeats}` }],
    },
  };
}
