import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CiliumKvstoreModel,
  IDENTITY_ID_PREFIX,
  IP_IDENTITY_PREFIX,
  identityLabelKey,
  ipIdentityPairJson,
  type KvOp,
} from "#scripts/bench/etcd/cilium-kvstore.ts";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";

const ipOps = (ops: KvOp[]): KvOp[] => ops.filter((op) => op.key.startsWith(IP_IDENTITY_PREFIX));

describe("Cilium kvstore layout", () => {
  it("encodes IPIdentityPair as Go's json.Marshal does", () => {
    const json = ipIdentityPairJson({
      ip: "10.0.0.7",
      hostIP: "192.168.0.1",
      identity: 300,
      namespace: "shop",
      podName: "web-1",
      namedPorts: [
        { name: "metrics", port: 9090, protocol: "TCP" },
        { name: "http", port: 8080, protocol: "TCP" },
      ],
    });
    assert.equal(
      json,
      '{"IP":"10.0.0.7","Mask":null,"HostIP":"192.168.0.1","ID":300,"Key":0,"Metadata":"",' +
        '"K8sNamespace":"shop","K8sPodName":"web-1","NamedPorts":[{"Name":"http","Port":8080,"Protocol":"TCP"},' +
        '{"Name":"metrics","Port":9090,"Protocol":"TCP"}]}',
    );
  });

  it("writes the allocator key as labels.SortedList()", () => {
    assert.equal(
      identityLabelKey({ "k8s:io.kubernetes.pod.namespace": "shop", "k8s:app": "web" }),
      "k8s:app=web;k8s:io.kubernetes.pod.namespace=shop;",
    );
  });
});

describe("CiliumKvstoreModel", () => {
  const setup = () => {
    const sim = new ClusterSimulator();
    const model = new CiliumKvstoreModel();
    model.apply(sim.addNode("n1", "a"), 0);
    model.apply(sim.addNamespace("shop"), 0);
    return { sim, model };
  };

  it("puts the IP key once the pod has an IP, skips unchanged values, deletes it with the pod", () => {
    const { sim, model } = setup();
    assert.deepEqual(ipOps(model.apply(sim.createPod("shop", "web-1", { app: "web" }, "n1"), 1)), []);
    const started = model.apply(sim.startPod("shop", "web-1"), 2);
    assert.deepEqual(
      ipOps(started).map((op) => [op.kind, op.key]),
      [["put", `${IP_IDENTITY_PREFIX}10.0.0.1`]],
    );
    assert.ok(started.some((op) => op.key.startsWith(IDENTITY_ID_PREFIX)));
    assert.deepEqual(model.apply(sim.setPodReady("shop", "web-1", true), 3), []);
    assert.deepEqual(model.apply(sim.annotatePod("shop", "web-1"), 4), []);
    assert.deepEqual(model.apply(sim.terminatePod("shop", "web-1"), 5), []);
    const deleted = ipOps(model.apply(sim.deletePod("shop", "web-1"), 6));
    assert.deepEqual(deleted, [{ kind: "delete", key: `${IP_IDENTITY_PREFIX}10.0.0.1` }]);
    assert.equal(model.ipKeys.size, 0);
  });

  it("rewrites the value with a new identity on relabel, and for a namespace relabel", () => {
    const { sim, model } = setup();
    model.apply(sim.createPod("shop", "web-1", { app: "web" }, "n1"), 1);
    model.apply(sim.startPod("shop", "web-1"), 2);
    const idOf = () => JSON.parse(model.ipKeys.get(`${IP_IDENTITY_PREFIX}10.0.0.1`) as string).ID as number;
    const first = idOf();
    assert.equal(ipOps(model.apply(sim.relabelPod("shop", "web-1", { app: "api" }), 3)).length, 1);
    const second = idOf();
    assert.notEqual(second, first);
    assert.equal(ipOps(model.apply(sim.relabelNamespace("shop", { env: "prod" }), 4)).length, 1);
    assert.notEqual(idOf(), second);
  });

  it("writes no IP key for host-network pods", () => {
    const { sim, model } = setup();
    model.apply(sim.createPod("shop", "agent", { app: "agent" }, "n1", { hostNetwork: true }), 1);
    assert.deepEqual(ipOps(model.apply(sim.startPod("shop", "agent"), 2)), []);
  });
});
