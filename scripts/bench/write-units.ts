/**
 * DynamoDB write request units of item writes, attributed to the partition keys they land on: the
 * benchmark's one accounting rule, used by the live pass's counting proxy (items as they cross the
 * wire) and by the model (items as the adapter builds them), so both price the same layout alike.
 *
 *  - An item write costs ceil(item size / 1 KB) units (at least 1), twice inside a transaction, as
 *    AWS bills them. Item size follows DynamoDB's rule: attribute names plus values, strings as
 *    UTF-8, binary as its raw bytes (not the base64 of the wire), numbers about one byte per two
 *    digits, maps and lists 3 bytes plus their elements, booleans and nulls 1 byte.
 *  - The write lands on the table's partition key of the item, and again, with the same units, on
 *    the partition key of every index that copies whole items (projection ALL) when the item has
 *    that index's key attribute (sparse indexes skip items without it).
 *  - An index that holds keys only (KEYS_ONLY) is written only when an item's index keys change:
 *    when it enters the index or leaves it. Its entry is under 1 KB: 1 unit, 2 inside a
 *    transaction (priced as the write it comes from, as the copies above are). What a request
 *    shows is counted: a put conditioned on the item not existing (`attribute_not_exists(pk)`: a
 *    create) enters each such index whose key the item has, a delete leaves the indexes it was in;
 *    other puts and updates are taken to keep their index keys, which holds for slices (their
 *    index keys follow from their key) and leaves out a pod changing node or IP, and an identity
 *    becoming a garbage-collection candidate or ceasing to be one.
 *  - Deletes and updates (addressed by key) cost 1 unit (2 in a transaction) on the item's key and
 *    on each copying index (an update may move the item there; counted as if it did).
 */

export interface IndexWriteLayout {
  readonly name: string;
  readonly partitionKey: string;
}

/** What decides where a table's writes land. */
export interface TableWriteLayout {
  readonly partitionKey: string;
  /** Indexes with projection ALL: each item write is copied there whole. */
  readonly copyingIndexes: readonly IndexWriteLayout[];
  /** Indexes with projection KEYS_ONLY: written when an item enters or leaves them. */
  readonly keyIndexes?: readonly IndexWriteLayout[];
}

/** An item entering the keys-only indexes (a create) or leaving them (a delete); absent: neither. */
export type IndexEntryChange = "enters" | "leaves";

export interface KeyedWriteUnits {
  /** "<table>|<partition key value>" or "<table>/<index>|<index key value>" */
  readonly key: string;
  readonly units: number;
}

const KB = 1024;

/** A wire-format (AttributeValue JSON) value's size, DynamoDB's way. */
export function attributeValueBytes(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const [[type, inner] = ["", undefined]] = Object.entries(value as Record<string, unknown>);
  switch (type) {
    case "S":
      return Buffer.byteLength(String(inner));
    case "N":
      return numberBytes(String(inner));
    case "B":
      return Buffer.from(String(inner), "base64").length;
    case "BOOL":
    case "NULL":
      return 1;
    case "SS":
      return (inner as string[]).reduce((sum, s) => sum + Buffer.byteLength(s), 0);
    case "NS":
      return (inner as string[]).reduce((sum, n) => sum + numberBytes(n), 0);
    case "BS":
      return (inner as string[]).reduce((sum, b) => sum + Buffer.from(b, "base64").length, 0);
    case "L":
      return (
        3 + (inner as unknown[]).reduce<number>((sum, element) => sum + 1 + attributeValueBytes(element), 0)
      );
    case "M":
      return 3 + wireItemBytes(inner as Record<string, unknown>, 1);
    default:
      return 0;
  }
}

/** A wire-format item's size: names plus values; `overhead` per entry inside a map (1 byte). */
export function wireItemBytes(item: Readonly<Record<string, unknown>>, overhead = 0): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item))
    bytes += Buffer.byteLength(name) + overhead + attributeValueBytes(value);
  return bytes;
}

/** A document-form item's size (what the document client marshals: strings, numbers, Uint8Array, ...). */
export function documentItemBytes(item: Readonly<Record<string, unknown>>, overhead = 0): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    bytes += Buffer.byteLength(name) + overhead + documentValueBytes(value);
  }
  return bytes;
}

function documentValueBytes(value: unknown): number {
  if (typeof value === "string") return Buffer.byteLength(value);
  if (typeof value === "number" || typeof value === "bigint") return numberBytes(String(value));
  if (typeof value === "boolean" || value === null) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value))
    return 3 + value.reduce<number>((sum, element) => sum + 1 + documentValueBytes(element), 0);
  if (typeof value === "object") return 3 + documentItemBytes(value as Record<string, unknown>, 1);
  return 0;
}

/** About one byte per two significant digits, plus one (DynamoDB's number encoding). */
function numberBytes(text: string): number {
  const digits = text
    .replace(/^-/, "")
    .replace(/[.eE+-].*$/, "")
    .replace(/^0+/, "").length;
  return Math.ceil(Math.max(1, digits) / 2) + 1;
}

export function unitsOfBytes(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / KB));
}

/**
 * The units of one item write and the keys they land on. `keyOf` reads an attribute of the item
 * as a string (wire or document form), undefined when absent.
 */
export function itemWriteUnits(
  table: string,
  layout: TableWriteLayout | undefined,
  write: {
    readonly bytes: number;
    readonly keyOf: (attribute: string) => string | undefined;
    readonly indexEntry?: IndexEntryChange | undefined;
  },
  transactional: boolean,
): KeyedWriteUnits[] {
  const units = unitsOfBytes(write.bytes) * (transactional ? 2 : 1);
  const base = layout === undefined ? undefined : write.keyOf(layout.partitionKey);
  const out: KeyedWriteUnits[] = [{ key: `${table}|${base ?? "?"}`, units }];
  for (const index of layout?.copyingIndexes ?? []) {
    const value = write.keyOf(index.partitionKey);
    if (value !== undefined) out.push({ key: `${table}/${index.name}|${value}`, units });
  }
  if (write.indexEntry !== undefined) {
    for (const index of layout?.keyIndexes ?? []) {
      const value = write.keyOf(index.partitionKey);
      if (value !== undefined)
        out.push({ key: `${table}/${index.name}|${value}`, units: transactional ? 2 : 1 });
    }
  }
  return out;
}

/** A put's condition says the item is new (a create): it enters the keys-only indexes. */
export function putCreates(condition: string | undefined): boolean {
  return condition?.includes("attribute_not_exists(pk)") === true;
}

/** Units by key, accumulated; the busiest key is the partition-throughput limit's demand. */
export class WriteUnitLedger {
  readonly #byKey = new Map<string, number>();
  #total = 0;

  add(entries: readonly KeyedWriteUnits[]): void {
    for (const { key, units } of entries) {
      this.#byKey.set(key, (this.#byKey.get(key) ?? 0) + units);
      this.#total += units;
    }
  }

  get total(): number {
    return this.#total;
  }

  toJSON(): { total: number; busiest: KeyedWriteUnits[]; byKind: KeyedWriteUnits[] } {
    return { total: this.#total, busiest: this.busiest(5), byKind: this.byKind() };
  }

  /**
   * Units by kind of key, most first: a key's value up to its first "#" (`slices|EndpointSlice`,
   * `state|group`, `slices/byKindShard|EndpointSlice`; `state|watch#<kind>`): where the units go.
   */
  byKind(): KeyedWriteUnits[] {
    const kinds = new Map<string, number>();
    for (const [key, units] of this.#byKey) {
      const bar = key.indexOf("|");
      const parts = key.slice(bar + 1).split("#");
      const kind = `${key.slice(0, bar)}|${parts[0] === "watch" ? `watch#${parts[1]}` : parts[0]}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + units);
    }
    return [...kinds]
      .sort(([ka, a], [kb, b]) => b - a || ka.localeCompare(kb))
      .map(([key, units]) => ({ key, units }));
  }

  /** Keys with the most units, most first. */
  busiest(count = 1): KeyedWriteUnits[] {
    return [...this.#byKey]
      .sort(([ka, a], [kb, b]) => b - a || ka.localeCompare(kb))
      .slice(0, count)
      .map(([key, units]) => ({ key, units }));
  }
}
