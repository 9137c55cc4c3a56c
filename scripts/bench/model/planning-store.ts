/**
 * The in-memory store, planning each group commit as the DynamoDB store would
 * (group-commit-plan.ts, with the store's own books and the zone epoch a reconcile read),
 * so the model can price what a commit carries besides its records and objects: the identity
 * reference counts it updates and the condition checks on what it read outside the group.
 */
import type { CommitRequest } from "#shared/adapters/dynamodb/group-commit.ts";
import { type GroupBook, planGroupCommit } from "#shared/adapters/dynamodb/group-commit-plan.ts";
import { MemoryClusterStore, type MemoryClusterStoreOptions } from "#shared/core/memory-store.ts";
import type { NodeRecord } from "#shared/core/model.ts";
import type { NamespaceGroup } from "#shared/core/namespace-group.ts";
import type { Versioned } from "#shared/core/object-versions.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";

export class PlanningMemoryStore extends MemoryClusterStore {
  readonly #settings: SlicingSettings;
  readonly #books = new WeakMap<NamespaceGroup, GroupBook>();
  /** The zone epoch as the DynamoDB store keeps it: bumped by Node commits that change a zone read. */
  #epoch = 0;
  #zoneEpoch: number | undefined;
  readonly #nowMs: () => number;
  /** Commit requests planned since the last drain. */
  #planned: CommitRequest[] = [];

  constructor(settings: SlicingSettings, nowMs: () => number, options: MemoryClusterStoreOptions = {}) {
    super(settings, options);
    this.#settings = settings;
    this.#nowMs = nowMs;
  }

  override async loadGroup(namespace: string): Promise<NamespaceGroup> {
    this.#zoneEpoch = undefined;
    return super.loadGroup(namespace);
  }

  override async zonesOf(nodeNames: Iterable<string>): Promise<Map<string, string | undefined>> {
    const names = [...nodeNames];
    if (names.length > 0) this.#zoneEpoch ??= this.#epoch;
    return super.zonesOf(names);
  }

  override async commitNode(
    name: string,
    entry: Versioned<NodeRecord>,
    expected: Versioned<NodeRecord> | undefined,
  ): Promise<void> {
    await super.commitNode(name, entry, expected);
    const zoneRead = (node: Versioned<NodeRecord> | undefined) =>
      node?.record === undefined ? null : (node.record.zone ?? "");
    if (zoneRead(expected) !== zoneRead(entry)) this.#epoch++;
  }

  override async commitGroup(group: NamespaceGroup, writes: readonly ObjectWrite[]): Promise<void> {
    const plan = planGroupCommit({
      group,
      writes,
      book: this.#books.get(group),
      tombstoneRetentionMs: this.#settings.tombstoneRetentionMs,
      nowMs: this.#nowMs(),
      zoneEpoch: this.#zoneEpoch,
    });
    await super.commitGroup(group, writes);
    group.markSaved();
    this.#books.set(group, plan.book);
    this.#planned.push(plan.request);
  }

  /** The commit requests planned since the last call. */
  drainPlanned(): CommitRequest[] {
    const planned = this.#planned;
    this.#planned = [];
    return planned;
  }
}
