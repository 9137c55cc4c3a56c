/**
 * The storage port of the slicing core. The in-memory adapter keeps everything live in the
 * process (tests, demo, benchmark); the DynamoDB adapter implements the same calls with queries,
 * conditional writes and transactions.
 */
import type { CiliumIdentity, NodeRecord } from "./model.ts";
import type { NameRange, NamespaceGroup } from "./namespace-group.ts";
import type { Versioned } from "./object-versions.ts";
import type { ObjectWrite } from "./output-changes.ts";

export interface ClusterStore {
  /** The group as stored, with its version; a group never seen is empty at version 0. */
  loadGroup(namespace: string): Promise<NamespaceGroup>;
  /**
   * Stores the group's records and the writes reconcile produced, only if the stored group is
   * still at the version it was loaded at; otherwise throws GroupConflictError and stores nothing.
   */
  commitGroup(group: NamespaceGroup, writes: readonly ObjectWrite[]): Promise<void>;

  /** Cluster-scoped writes outside any group (identity garbage collection), each conditional on its version. */
  commitClusterWrites(writes: readonly ObjectWrite[]): Promise<void>;

  loadNode(name: string): Promise<Versioned<NodeRecord> | undefined>;
  commitNode(
    name: string,
    entry: Versioned<NodeRecord>,
    expected: Versioned<NodeRecord> | undefined,
  ): Promise<void>;
  /**
   * Zones of the given nodes (for endpoint topology); unknown nodes are absent. Called while a
   * group loaded by loadGroup is being reconciled: if a Node commit that changes what this
   * answers (a node created, deleted, or its zone changed) can land between this read and that
   * group's commitGroup, the store must make the commit throw GroupConflictError (the DynamoDB
   * store: a zone epoch every such Node commit bumps and every group commit that read zones
   * checks). The in-memory store needs no rule: one engine uses it, group after group and Node
   * after Node, so nothing lands in between. `namespace`: the group whose reconcile reads them
   * (the engine may reconcile a batch's groups concurrently on one store).
   */
  zonesOf(nodeNames: Iterable<string>, namespace: string): Promise<Map<string, string | undefined>>;
  /** Pods (namespace/name) scheduled on a node, so a zone change reaches their endpoints. */
  podsOnNode(nodeName: string): Promise<string[]>;

  /**
   * Names in a range the store knows, for a cluster-scoped resync: every namespace group
   * (whatever it holds) or every live Node. A full read of the state in a persistent store, which
   * a resync after a watch gap can afford and a change event never pays.
   */
  knownNames(kind: "Namespace" | "Node", range: NameRange): Promise<string[]>;

  readonly identities: IdentityStore;
}

export interface IdentityStore {
  /**
   * The id of this label set, allocated if new; each acquire is matched by one release.
   * `namespace`: the group whose reconcile acquires it (`created` is reported once per attempt
   * of that group's commit; the engine may reconcile a batch's groups concurrently).
   */
  acquire(
    labels: Record<string, string>,
    nowMs: number,
    namespace?: string,
  ): Promise<{ id: number; created: CiliumIdentity | undefined }>;
  release(id: number, nowMs: number): Promise<void>;
  /** Deletes identities unused for the grace period; returns their last stored objects. */
  collectGarbage(nowMs: number): Promise<CiliumIdentity[]>;
}

export class GroupConflictError extends Error {
  override name = "GroupConflictError";
  constructor(namespace: string, expected: number, actual: number) {
    super(`namespace group ${namespace} changed concurrently: expected version ${expected}, found ${actual}`);
  }
}

/** A single-object conditional write (a Node) lost to a concurrent writer: reload and try again. */
export class ConditionalWriteError extends Error {
  override name = "ConditionalWriteError";
}
