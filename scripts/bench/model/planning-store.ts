/**
 * The in-memory store, planning each group commit as the DynamoDB store would
 * (group-commit-plan.ts, with the store's own books and its record of the zones a reconcile read),
 * so the model can price what a commit carries besides its records and objects: the identity
 * reference counts it updates and the condition checks on what it read outside the group.
 */
import type { CommitRequest } from "#shared/adapters/dynamodb/group-commit.ts";
import { type GroupBook, planGroupCommit } from "#shared/adapters/dynamodb/group-commit-plan.ts";
import { MemoryClusterStore, type MemoryClusterStoreOptions } from "#shared/core/memory-store.ts";
import type { NamespaceGroup } from "#shared/core/namespace-group.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import type { SlicingSettings } from "#shared/core/settings.ts";

export class PlanningMemoryStore extends MemoryClusterStore {
  readonly #settings: SlicingSettings;
  readonly #books = new WeakMap<NamespaceGroup, GroupBook>();
  readonly #zoneReads = new Map<string, string | undefined | null>();
  readonly #nowMs: () => number;
  /** Commit requests planned since the last drain. */
  #planned: CommitRequest[] = [];

  constructor(settings: SlicingSettings, nowMs: () => number, options: MemoryClusterStoreOptions = {}) {
    super(settings, options);
    this.#settings = settings;
    this.#nowMs = nowMs;
  }

  override async loadGroup(namespace: string): Promise<NamespaceGroup> {
    this.#zoneReads.clear();
    return super.loadGroup(namespace);
  }

  override async zonesOf(nodeNames: Iterable<string>): Promise<Map<string, string | undefined>> {
    const names = [...nodeNames];
    const zones = await super.zonesOf(names);
    for (const name of names) this.#zoneReads.set(name, zones.has(name) ? zones.get(name) : null);
    return zones;
  }

  override async commitGroup(group: NamespaceGroup, writes: readonly ObjectWrite[]): Promise<void> {
    const plan = planGroupCommit({
      group,
      writes,
      book: this.#books.get(group),
      tombstoneRetentionMs: this.#settings.tombstoneRetentionMs,
      nowMs: this.#nowMs(),
      zoneReads: this.#zoneReads,
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
