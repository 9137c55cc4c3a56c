/**
 * Planned item operations and the transactions that carry them.
 *
 * A PlannedOp is plain JSON (it is also what a commit's intent stores), with two conditions: the
 * strict one used when the op is part of the commit's own transaction, and an idempotent one used
 * when a roll-forward re-applies it from the intent (see group-commit.ts).
 *
 * Retries, two layers:
 *  - the SDK client's own retry strategy (the "standard" mode of SDK v3: exponential backoff with
 *    full jitter, base 100 ms, cap 20 s, retry quota) handles throttling, 5xx and network errors on
 *    every call; the handlers build the client with maxAttempts 8;
 *  - a cancelled transaction is never retried by the SDK, so `transact` retries the transient
 *    cancellation reasons (TransactionConflict, ThrottlingError, ProvisionedThroughputExceeded)
 *    and TransactionConflictException/TransactionInProgressException itself, with exponential
 *    backoff and full jitter (RetryPolicy, default 10 attempts, 25 ms doubling to 1 s).
 *    Each attempt carries a ClientRequestToken, so an SDK-level resend of a transaction that did
 *    succeed (a lost response) is answered as success instead of failing its own conditions.
 */
import { randomUUID } from "node:crypto";
import { type DynamoDBDocumentClient, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import type { DynamoTables, Item, Key, TableRef } from "./items.ts";

export type OpAction =
  | { readonly type: "put"; readonly item: Item }
  | { readonly type: "delete" }
  | { readonly type: "update"; readonly expression: string }
  | { readonly type: "check" };

export interface PlannedOp {
  readonly table: TableRef;
  readonly key: Key;
  readonly action: OpAction;
  /** Condition inside the commit's own transaction. */
  readonly condition?: string;
  /** Condition when re-applied by a roll-forward: must hold again if the op was already applied. */
  readonly replayCondition?: string;
  readonly names?: Readonly<Record<string, string>>;
  readonly values?: Readonly<Record<string, unknown>>;
  /** Estimated payload bytes, for the 4 MB transaction limit. */
  readonly bytes: number;
  /** What the op stands for, in error messages. */
  readonly label: string;
}

export type ConditionMode = "strict" | "replay";

/** DynamoDB's limits for one TransactWriteItems call, with headroom on the size. */
export const MAX_TRANSACTION_ITEMS = 100;
export const MAX_TRANSACTION_BYTES = 3_500_000;

export function estimateBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value, keepBytes)) + 64;
}

/**
 * Planned ops as JSON text (a commit's intent) and back, binary attribute values (compressed
 * objects) included: plain JSON would turn a Uint8Array into an object of numbered keys.
 */
export function serializeOps(ops: readonly PlannedOp[]): string {
  return JSON.stringify(ops, keepBytes);
}

export function deserializeOps(text: string): PlannedOp[] {
  return JSON.parse(text, (_key, value: unknown) =>
    isEncodedBytes(value) ? new Uint8Array(Buffer.from(value[BYTES_MARK], "base64")) : value,
  ) as PlannedOp[];
}

const BYTES_MARK = "$bytes";

/** A JSON replacer: binary values (seen before a Buffer's own toJSON) as base64. */
function keepBytes(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  return raw instanceof Uint8Array ? { [BYTES_MARK]: Buffer.from(raw).toString("base64") } : value;
}

function isEncodedBytes(value: unknown): value is { [BYTES_MARK]: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    Object.keys(value).length === 1 &&
    typeof (value as Record<string, unknown>)[BYTES_MARK] === "string"
  );
}

// biome-ignore lint/suspicious/noExplicitAny: the document client's TransactItems element type
type TransactItem = any;

/** Condition and the attribute names/values the chosen expressions use (DynamoDB rejects unused ones). */
export function expressionParts(
  op: PlannedOp,
  mode: ConditionMode,
): {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  const condition = mode === "strict" ? op.condition : op.replayCondition;
  const update = op.action.type === "update" ? op.action.expression : undefined;
  const used = placeholders(`${update ?? ""} ${condition ?? ""}`);
  const names = pick(op.names, used);
  const values = pick(op.values, used);
  const parts: ReturnType<typeof expressionParts> = {};
  if (condition !== undefined) parts.ConditionExpression = condition;
  if (names !== undefined) parts.ExpressionAttributeNames = names;
  if (values !== undefined) parts.ExpressionAttributeValues = values;
  return parts;
}

export function toTransactItem(
  op: PlannedOp,
  tables: DynamoTables,
  mode: ConditionMode,
  extra: { returnOldOnFailure?: boolean } = {},
): TransactItem {
  const condition = mode === "strict" ? op.condition : op.replayCondition;
  const common: Record<string, unknown> = { TableName: tables[op.table], ...expressionParts(op, mode) };
  if (extra.returnOldOnFailure && op.action.type !== "check")
    common.ReturnValuesOnConditionCheckFailure = "ALL_OLD";
  switch (op.action.type) {
    case "put":
      return { Put: { ...common, Item: { ...op.action.item, ...op.key } } };
    case "delete":
      return { Delete: { ...common, Key: { ...op.key } } };
    case "update":
      return { Update: { ...common, Key: { ...op.key }, UpdateExpression: op.action.expression } };
    case "check":
      if (condition === undefined) throw new Error(`condition check ${op.label} without a condition`);
      return { ConditionCheck: { ...common, Key: { ...op.key } } };
  }
}

function placeholders(text: string): Set<string> {
  return new Set(text.match(/[#:][A-Za-z0-9_]+/g) ?? []);
}

function pick<T>(
  record: Readonly<Record<string, T>> | undefined,
  used: Set<string>,
): Record<string, T> | undefined {
  if (record === undefined) return undefined;
  const out: Record<string, T> = {};
  let any = false;
  for (const [key, value] of Object.entries(record)) {
    if (!used.has(key)) continue;
    out[key] = value;
    any = true;
  }
  return any ? out : undefined;
}

/** Consecutive runs of ops that fit one transaction each (after `reserved` items of its own). */
export function chunkOps(
  ops: readonly PlannedOp[],
  reserved = 0,
  maxItems = MAX_TRANSACTION_ITEMS,
  maxBytes = MAX_TRANSACTION_BYTES,
): PlannedOp[][] {
  const chunks: PlannedOp[][] = [];
  let current: PlannedOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    if (current.length > 0 && (current.length + reserved >= maxItems || bytes + op.bytes > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += op.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 10, baseDelayMs: 25, maxDelayMs: 1000 };

/** Full jitter: a uniform delay in [0, min(max, base * 2^attempt)). */
export function backoffDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits out an attempt's backoff delay before the next try. */
export function backOff(policy: RetryPolicy, attempt: number): Promise<void> {
  return sleep(backoffDelayMs(policy, attempt));
}

const TRANSIENT_REASONS = new Set([
  "TransactionConflict",
  "ThrottlingError",
  "ProvisionedThroughputExceeded",
  "RequestLimitExceeded",
]);
const TRANSIENT_ERRORS = new Set(["TransactionConflictException", "TransactionInProgressException"]);

export interface CancellationReason {
  readonly Code?: string;
  readonly Message?: string;
  readonly Item?: Record<string, unknown>;
}

export type TransactOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** Indexes of items whose condition failed (and only conditions failed). */
      readonly failed: readonly number[];
      readonly reasons: readonly CancellationReason[];
    };

export class TransactionFailedError extends Error {
  override name = "TransactionFailedError";
}

/**
 * One TransactWriteItems, retried while only transient reasons cancel it. Returns the failed
 * conditions instead of throwing, so callers can tell whose condition failed.
 */
export async function transact(
  client: DynamoDBDocumentClient,
  items: readonly TransactItem[],
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): Promise<TransactOutcome> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.send(
        new TransactWriteCommand({ TransactItems: [...items], ClientRequestToken: randomUUID() }),
      );
      return { ok: true };
    } catch (error) {
      const name = (error as Error).name;
      let transient = TRANSIENT_ERRORS.has(name);
      if (name === "TransactionCanceledException") {
        const reasons = ((error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ??
          []) as CancellationReason[];
        const codes = reasons.map((r) => r.Code ?? "None");
        const failed = codes.flatMap((code, i) => (code === "ConditionalCheckFailed" ? [i] : []));
        const others = codes.filter((code) => code !== "None" && code !== "ConditionalCheckFailed");
        if (others.length === 0 && failed.length > 0) return { ok: false, failed, reasons };
        transient = others.length > 0 && others.every((code) => TRANSIENT_REASONS.has(code));
        if (!transient) {
          throw new TransactionFailedError(
            `transaction cancelled: ${codes.map((c, i) => `${i}:${c}`).join(" ")} (${(error as Error).message})`,
            { cause: error },
          );
        }
      }
      if (!transient || attempt + 1 >= policy.attempts) throw error;
      await backOff(policy, attempt);
    }
  }
}

/** Retries a single-item call on the conflicts the SDK does not retry (an item inside a transaction). */
export async function retryingConflicts<T>(
  call: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!TRANSIENT_ERRORS.has((error as Error).name) || attempt + 1 >= policy.attempts) throw error;
      await backOff(policy, attempt);
    }
  }
}

export function isConditionFailure(error: unknown): boolean {
  return (error as Error)?.name === "ConditionalCheckFailedException";
}
