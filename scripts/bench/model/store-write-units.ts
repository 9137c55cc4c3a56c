/**
 * The model's DynamoDB write units, from the items the adapter itself builds (items.ts) on the
 * tables as declared (table-schemas.ts), priced and keyed by write-units.ts as the live pass's
 * counting proxy prices what it sees: a layout change reaches the model without editing it.
 *
 * Per ingest batch, one TransactWriteItems per namespace group: the group's meta item and each
 * changed pod, Service or Namespace record (≤ 1 KB each, on group#<ns>), and each slice or
 * identity write as its slices-table item (and its entry on the keys-only kind index when it
 * creates or deletes the object), and what the store's own plan of the commit adds
 * (group-commit-plan.ts, through the model's planning store): the identity reference-count updates
 * and the condition checks on what the reconcile read outside the group (a ConditionCheck in a
 * transaction is billed as a transactional write of its item); each Node event is a plain
 * conditional put. Per stream record, the fan-out's change-log entry (BatchWriteItem). Not counted:
 * redo-log chunks of commits over 100 items, identity allocation (new label sets).
 */
import type { CommitRequest } from "#shared/adapters/dynamodb/group-commit.ts";
import {
  changeLogItem,
  groupPk,
  type Item,
  nodeKey,
  sliceItem,
  sliceKey,
} from "#shared/adapters/dynamodb/items.ts";
import {
  IDENTITIES_TABLE,
  SLICES_TABLE,
  STATE_TABLE,
  type TableSchema,
} from "#shared/config/table-schemas.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import { CHANGE_LOG_RETENTION_MS, changeLogEntry } from "#shared/fanout/change-log.ts";
import type { ObjectChange } from "#shared/fanout/change-routing.ts";
import {
  documentItemBytes,
  type IndexEntryChange,
  itemWriteUnits,
  type KeyedWriteUnits,
  type TableWriteLayout,
} from "../write-units.ts";

export function writeLayoutOf(schema: TableSchema): TableWriteLayout {
  const indexes = (projection: "ALL" | "KEYS_ONLY") =>
    schema.globalIndexes
      .filter((index) => index.projection === projection)
      .map((index) => ({ name: index.name, partitionKey: index.partitionKey }));
  return {
    partitionKey: schema.partitionKey,
    copyingIndexes: indexes("ALL"),
    keyIndexes: indexes("KEYS_ONLY"),
  };
}

const STATE = writeLayoutOf(STATE_TABLE);
const SLICES = writeLayoutOf(SLICES_TABLE);
const IDENTITIES = writeLayoutOf(IDENTITIES_TABLE);
const LAYOUTS = { state: STATE, slices: SLICES, identities: IDENTITIES };

/** What an ingest batch's event touched: a Node, or a record of a namespace group. */
export type TouchedRecord =
  | { readonly kind: "Node"; readonly name: string }
  | { readonly kind: "Pod" | "Service" | "Namespace"; readonly namespace: string; readonly name: string };

/** A write of `bytes` to the item keyed by `keys` (the item itself, or just its key attributes). */
const write = (
  table: string,
  layout: TableWriteLayout,
  keys: Item,
  bytes: number,
  transactional: boolean,
  indexEntry?: IndexEntryChange,
) =>
  itemWriteUnits(
    table,
    layout,
    { bytes, keyOf: (attribute) => stringOf(keys[attribute]), indexEntry },
    transactional,
  );

const put = (
  table: string,
  layout: TableWriteLayout,
  item: Item,
  transactional: boolean,
  indexEntry?: IndexEntryChange,
) => write(table, layout, item, documentItemBytes(item), transactional, indexEntry);

/** A write named by its key alone (a delete, a small update, a condition check): one unit's worth. */
const byKey = (
  table: string,
  layout: TableWriteLayout,
  key: Item,
  transactional: boolean,
  indexEntry?: IndexEntryChange,
) => write(table, layout, key, 1, transactional, indexEntry);

/** The ingest function's writes for one batch; `commits`: its group commits as the store plans them. */
export function ingestWriteUnits(
  touched: readonly TouchedRecord[],
  writes: readonly ObjectWrite[],
  commits: readonly CommitRequest[] = [],
): KeyedWriteUnits[] {
  const out: KeyedWriteUnits[] = [];
  const groups = new Set<string>();
  const records = new Set<string>();
  for (const record of touched) {
    if (record.kind === "Node") {
      out.push(...byKey("state", STATE, { ...nodeKey(record.name) }, false));
      continue;
    }
    groups.add(record.namespace);
    records.add(`${record.kind}/${record.namespace}/${record.name}`);
  }
  for (const namespace of groups) out.push(...byKey("state", STATE, { pk: groupPk(namespace) }, true));
  for (const record of records) {
    const namespace = record.split("/")[1] ?? "";
    out.push(...byKey("state", STATE, { pk: groupPk(namespace) }, true));
  }
  for (const write of writes) {
    out.push(
      // A create enters the keys-only kind index, a delete leaves it; an update keeps its keys.
      ...(write.op === "delete"
        ? byKey("slices", SLICES, { ...sliceKey(write.object), ...deletedIndexKeys(write) }, true, "leaves")
        : put(
            "slices",
            SLICES,
            sliceItem(write.object, write.sourceTimeMs),
            true,
            write.op === "create" ? "enters" : undefined,
          )),
    );
  }
  for (const commit of commits) {
    // Identity reference counts: updates by key.
    for (const op of commit.ops)
      if (op.table === "identities") out.push(...byKey("identities", IDENTITIES, { ...op.key }, true));
    // A condition check is billed as a transactional write of its item's key; it copies nothing.
    for (const check of commit.checks ?? [])
      out.push(...byKey(check.table, LAYOUTS[check.table], { ...check.key }, true).slice(0, 1));
  }
  return out;
}

/** The fan-out's change-log entries for one stream batch's changes. */
export function changeLogWriteUnits(changes: readonly ObjectChange[], atMs: number): KeyedWriteUnits[] {
  const expiresAt = Math.ceil((atMs + CHANGE_LOG_RETENTION_MS) / 1000) + 60;
  return changes.flatMap((change) =>
    put("state", STATE, changeLogItem(changeLogEntry(change, atMs), expiresAt), false),
  );
}

/** A delete removes the item's index entries too: the index keys are those of its last item. */
function deletedIndexKeys(write: ObjectWrite): Item {
  const item = sliceItem(write.object, write.sourceTimeMs);
  return Object.fromEntries(
    [...SLICES.copyingIndexes, ...(SLICES.keyIndexes ?? [])].map((index) => [
      index.partitionKey,
      item[index.partitionKey],
    ]),
  );
}

function stringOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return undefined;
}
