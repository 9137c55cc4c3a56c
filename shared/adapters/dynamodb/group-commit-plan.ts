/**
 * What a namespace group's commit writes, planned without DynamoDB: the group's unsaved records,
 * the identity reference counts its pods changed, and the output objects the core wrote become
 * PlannedOps (transact.ts) and the meta update of one CommitRequest (group-commit.ts carries it
 * out). Pure, so the mapping from core state to items is tested without a table.
 */

import type { NamespaceRecord, PodRecord } from "#shared/core/model.ts";
import type { NamespaceGroup } from "#shared/core/namespace-group.ts";
import type { Versioned } from "#shared/core/object-versions.ts";
import type { ObjectWrite, OutputObject } from "#shared/core/output-changes.ts";
import type { CommitRequest } from "./group-commit.ts";
import {
  GC_CANDIDATE,
  type Item,
  identityKey,
  itemKeyString,
  podItem,
  podKeyOf,
  serviceItem,
  serviceKeyOf,
  sliceItem,
  sliceKey,
  withoutUndefined,
  ZONE_EPOCH_ATTRIBUTE,
  ZONE_EPOCH_KEY,
} from "./items.ts";
import { estimateBytes, type PlannedOp } from "./transact.ts";

/** What the store remembers about a group it handed out, to know what its commit must change. */
export interface GroupBook {
  /** The identity each pod held as stored (at load or at the last commit). */
  readonly identities: ReadonlyMap<string, number>;
  /** creationTimestamp of the group's stored objects by item key (the core does not keep it). */
  readonly created: ReadonlyMap<string, string>;
}

export interface GroupCommitInput {
  readonly group: NamespaceGroup;
  readonly writes: readonly ObjectWrite[];
  /** Undefined for a group the store did not hand out (nothing stored to compare with). */
  readonly book: GroupBook | undefined;
  readonly tombstoneRetentionMs: number;
  /** Stamped as unusedSinceMs on identities the commit leaves unused. */
  readonly nowMs: number;
  /**
   * The zone epoch read before the reconcile's zone reads (undefined: it read no zone); the
   * commit checks it is unchanged, so no Node commit that changed a zone landed in between.
   */
  readonly zoneEpoch: number | undefined;
}

export interface GroupCommitPlan {
  readonly request: CommitRequest;
  /** The book once the commit has landed. */
  readonly book: GroupBook;
}

export function planGroupCommit(input: GroupCommitInput): GroupCommitPlan {
  const { group, writes } = input;
  const book = input.book ?? { identities: new Map(), created: new Map() };
  const namespace = group.name;
  const nextVersion = group.version + 1;
  const retention = input.tombstoneRetentionMs;
  const unsaved = group.unsavedChanges();
  const ops: PlannedOp[] = [];

  // Pod and Service records. A namespace relabel changes pods' identities without touching
  // their records, so pods whose held identity changed are written too.
  const pods = new Map<string, [Versioned<PodRecord> | undefined, number | undefined]>();
  for (const [name, entry, identity] of unsaved.pods) pods.set(name, [entry, identity]);
  for (const [name, identity] of group.podIdentities) {
    if (!pods.has(name) && book.identities.get(name) !== identity)
      pods.set(name, [group.pods.get(name), identity]);
  }
  for (const name of book.identities.keys()) {
    if (!pods.has(name) && !group.podIdentities.has(name)) pods.set(name, [group.pods.get(name), undefined]);
  }
  for (const [name, [entry, identity]] of pods) {
    ops.push(
      entry === undefined
        ? deleteOp("state", podKeyOf(namespace, name), `pod ${namespace}/${name}`)
        : putOp(
            "state",
            podItem(namespace, name, withoutUndefined(entry), identity, nextVersion, retention),
            `pod ${namespace}/${name}`,
          ),
    );
  }
  for (const [name, entry] of unsaved.services) {
    ops.push(
      entry === undefined
        ? deleteOp("state", serviceKeyOf(namespace, name), `Service ${namespace}/${name}`)
        : putOp(
            "state",
            serviceItem(namespace, name, withoutUndefined(entry), nextVersion, retention),
            `Service ${namespace}/${name}`,
          ),
    );
  }

  // Identity reference counts (absolute, per namespace) and publication of new identities.
  const before = countValues(book.identities.values());
  const after = countValues(group.podIdentities.values());
  const published = new Set(
    writes
      .filter((w) => w.kind === "CiliumIdentity" && w.op === "create")
      .map((w) => Number(w.object.metadata.name)),
  );
  for (const id of new Set([...before.keys(), ...after.keys(), ...published])) {
    const countChanged = before.get(id) !== after.get(id);
    if (!countChanged && !published.has(id)) continue;
    ops.push(
      identityRefsOp(
        id,
        namespace,
        countChanged ? (after.get(id) ?? 0) : undefined,
        published.has(id),
        input.nowMs,
      ),
    );
  }

  // Output objects, each on its resourceVersion.
  const created = new Map(book.created);
  for (const write of writes) ops.push(objectWriteOp(write, created));

  const namespaceEntry = unsaved.namespaceEntry;
  return {
    request: {
      namespace,
      version: group.version,
      // The slice name counters go with every commit: a few bytes of an item written anyway.
      metaSet: [
        "#sliceNames = :sliceNames",
        ...(namespaceEntry === undefined ? [] : ["#namespace = :namespace"]),
      ],
      metaNames: {
        "#sliceNames": "sliceNameCounters",
        ...(namespaceEntry === undefined ? {} : { "#namespace": "namespace" }),
      },
      metaValues: {
        ":sliceNames": group.sliceNameCounters,
        ...(namespaceEntry === undefined ? {} : { ":namespace": namespaceFields(namespaceEntry) }),
      },
      ops: mergeSameItem(ops),
      checks: input.zoneEpoch === undefined ? [] : [zoneEpochCheckOp(input.zoneEpoch)],
    },
    book: { identities: new Map(group.podIdentities), created },
  };
}

// ----------------------------------------------------------------------------------------------
// Planned operations
// ----------------------------------------------------------------------------------------------

function putOp(table: PlannedOp["table"], item: Item, label: string): PlannedOp {
  return {
    table,
    key: { pk: String(item.pk), sk: String(item.sk) },
    action: { type: "put", item },
    bytes: estimateBytes(item),
    label,
  };
}

function deleteOp(table: PlannedOp["table"], key: { pk: string; sk: string }, label: string): PlannedOp {
  return { table, key, action: { type: "delete" }, bytes: 200, label };
}

/**
 * refs.<namespace> := the number of the namespace's pods holding the identity (removed at 0, and
 * then the identity becomes a garbage-collection candidate; GC checks that no namespace holds it).
 */
function identityRefsOp(
  id: number,
  namespace: string,
  count: number | undefined,
  publish: boolean,
  nowMs: number,
): PlannedOp {
  const set: string[] = [];
  const remove: string[] = [];
  if (count !== undefined && count > 0) {
    set.push("refs.#ns = :count");
    remove.push("gcCandidate", "unusedSinceMs");
  } else if (count !== undefined) {
    remove.push("refs.#ns");
    set.push("gcCandidate = :yes", "unusedSinceMs = :now");
  }
  if (publish) set.push("published = :true");
  const expression = [
    set.length > 0 ? `SET ${set.join(", ")}` : "",
    remove.length > 0 ? `REMOVE ${remove.join(", ")}` : "",
  ]
    .filter((part) => part !== "")
    .join(" ");
  return {
    table: "identities",
    key: identityKey(id),
    action: { type: "update", expression },
    // The identity must still exist: if it was collected, the group replays and acquires anew.
    condition: "attribute_exists(pk)",
    replayCondition: "attribute_exists(pk)",
    names: { "#ns": namespace },
    values: { ":count": count ?? 0, ":yes": GC_CANDIDATE, ":now": nowMs, ":true": true },
    bytes: 300,
    label: `identity ${id} held by ${count ?? "unchanged"} pods of ${namespace}`,
  };
}

/** No Node commit changed a zone since the reconcile read the epoch (0: the item did not exist). */
function zoneEpochCheckOp(epoch: number): PlannedOp {
  return {
    table: "state",
    key: ZONE_EPOCH_KEY,
    action: { type: "check" },
    condition: epoch === 0 ? "attribute_not_exists(#epoch)" : "#epoch = :epoch",
    names: { "#epoch": ZONE_EPOCH_ATTRIBUTE },
    values: epoch === 0 ? undefined : { ":epoch": epoch },
    bytes: 200,
    label: `zone epoch ${epoch}`,
  };
}

/**
 * A slices-table write on the object's resourceVersion: create when absent, update/delete when
 * still at the version the core expects. The replay condition also accepts the write's own
 * result (a roll-forward re-applying it). `created` carries creationTimestamps across writes.
 */
export function objectWriteOp(write: ObjectWrite, created: Map<string, string>): PlannedOp {
  const key = sliceKey(write.object);
  const keyString = itemKeyString("slices", key);
  const label = `${write.op} of ${write.kind} ${write.object.metadata.name}`;
  const names = { "#rv": "resourceVersion" };
  const expected = write.expectedResourceVersion;
  if (write.op === "delete") {
    created.delete(keyString);
    return {
      table: "slices",
      key,
      action: { type: "delete" },
      condition: expected === undefined ? "attribute_not_exists(pk)" : "#rv = :expected",
      replayCondition: expected === undefined ? undefined : "attribute_not_exists(pk) OR #rv = :expected",
      names,
      values: expected === undefined ? undefined : { ":expected": expected },
      bytes: 300,
      label,
    };
  }
  const object = withCreationTimestamp(write, created.get(keyString));
  if (object.metadata.creationTimestamp !== undefined)
    created.set(keyString, object.metadata.creationTimestamp);
  const item = sliceItem(object, write.sourceTimeMs);
  return {
    table: "slices",
    key,
    action: { type: "put", item },
    condition: expected === undefined ? "attribute_not_exists(pk)" : "#rv = :expected",
    replayCondition:
      expected === undefined ? "attribute_not_exists(pk) OR #rv = :new" : "#rv = :expected OR #rv = :new",
    names,
    values: {
      ":new": object.metadata.resourceVersion,
      ...(expected === undefined ? {} : { ":expected": expected }),
    },
    bytes: estimateBytes(item),
    label,
  };
}

/** creationTimestamp as the memory store sets it: kept from the stored object, else the write's source time. */
function withCreationTimestamp(write: ObjectWrite, stored: string | undefined): OutputObject {
  const object = write.object;
  const timestamp =
    object.metadata.creationTimestamp ??
    stored ??
    (write.op === "create" ? new Date(write.sourceTimeMs).toISOString() : undefined);
  if (timestamp === object.metadata.creationTimestamp) return object;
  return { ...object, metadata: { ...object.metadata, creationTimestamp: timestamp } } as OutputObject;
}

/**
 * A transaction may touch an item once. Two writes of the same object in one commit become one:
 * the first's condition (what is stored now) with the last's effect (what must be stored).
 */
function mergeSameItem(ops: readonly PlannedOp[]): PlannedOp[] {
  const byKey = new Map<string, PlannedOp>();
  for (const op of ops) {
    const key = itemKeyString(op.table, op.key);
    const first = byKey.get(key);
    if (first === undefined) {
      byKey.set(key, op);
      continue;
    }
    if (first.action.type === "update" || op.action.type === "update")
      throw new Error(`two updates of one item in a commit: ${first.label}; ${op.label}`);
    byKey.set(key, {
      ...op,
      condition: first.condition,
      replayCondition: undefined,
      values: { ...op.values, ...first.values },
      label: `${first.label}, then ${op.label}`,
    });
  }
  return [...byKey.values()];
}

function namespaceFields(entry: Versioned<NamespaceRecord>): Item {
  const fields: Item = { resourceVersion: entry.resourceVersion };
  if (entry.record !== undefined) fields.record = withoutUndefined(entry.record);
  if (entry.deletedAtMs !== undefined) fields.deletedAtMs = entry.deletedAtMs;
  return fields;
}

function countValues(ids: Iterable<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}
