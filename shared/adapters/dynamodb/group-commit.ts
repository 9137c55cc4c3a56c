/**
 * How a namespace group's commit reaches DynamoDB: all of its item operations take effect, or
 * none do, and only if the group is still at the version it was loaded at.
 *
 * Small commits (up to 100 items and ~3.5 MB, which is nearly all of them) are ONE
 * TransactWriteItems: the group's meta item is updated on the condition `version = loaded` (and
 * no commit pending), next to the pod/Service records, the slice objects on their
 * resourceVersion conditions, the identity reference counts, and a condition check that the zone
 * epoch is still the one read before the reconcile's zone reads (cluster-store.ts). Nothing else
 * to explain.
 *
 * Larger commits (a namespace label flip over hundreds of pods, a Service over many slices) use a
 * redo log, because DynamoDB has no transaction over 100 items:
 *   1. INTENT: the operations that do not fit in step 2 are written, serialized, to intent items
 *      (`intent#<ns>#<commitId>` / `chunk#<n>`, own partition, TTL as garbage collection). They
 *      have no effect on their own: nothing reads them unless step 2 happened.
 *   2. CLAIM, the commit point: one transaction that bumps the meta version on the same condition
 *      as a small commit and sets `meta.pending = {commitId, chunks}`, registers the commit in
 *      the `#pending` partition, and carries as many of the commit's own operations as fit
 *      (identity counts first). If its condition fails, nothing happened: GroupConflictError,
 *      the engine replays the group from a fresh load.
 *   3. APPLY: the intent's operations in transactions of up to 99, each also holding a
 *      ConditionCheck that `meta.pending.commitId` is still this commit.
 *   4. FINISH: one transaction removes `meta.pending` and the registration; then the intent
 *      items are deleted.
 *
 * Why a crash anywhere leaves the same final state once SQS redelivers the batch:
 *  - before the claim: the group is untouched (intent items are unreachable and expire), so the
 *    redelivered batch simply runs again;
 *  - after the claim: the commit has happened, logically. Every reader of the group rolls it
 *    forward before reading (loadGroup re-runs steps 3 and 4 from the intent when it finds
 *    `meta.pending`), and no other commit of the group can claim while it is pending (the claim
 *    condition requires no pending commit). Re-applying is idempotent: records and identity
 *    counts are absolute values, object writes carry replay conditions that accept "already
 *    written" (`resourceVersion = expected OR = new`), and the ConditionCheck on
 *    `meta.pending.commitId` makes every apply transaction of a finished commit a no-op, so a
 *    slow roller can never overwrite a later commit. After the roll-forward the group holds
 *    exactly the records of the claimed commit, so the redelivered events are stale (their
 *    resourceVersions are stored) and change nothing; events of the batch that were not yet
 *    applied anywhere are applied now, as in any replay.
 *  - readers outside the group protocol (the HTTP API, the stream fan-out) may see a commit's
 *    slice writes arrive in two or more steps, as Kubernetes clients see the EndpointSlice
 *    controller write slices one by one; every step is a valid, conditionally written object;
 *  - identity garbage collection rolls pending commits forward before it deletes identities
 *    (identity-store.ts), and an identity a commit refers to had its unused time moved to "now"
 *    when it was acquired, so it cannot be collected between acquire and claim unless a commit
 *    takes longer than the grace period (15 min; far beyond the ingest function's timeout).
 */
import { randomUUID } from "node:crypto";
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
} from "@aws-sdk/lib-dynamodb";
import { GroupConflictError } from "#shared/core/cluster-store.ts";
import {
  type DynamoTables,
  intentChunkKey,
  intentPk,
  type MetaItem,
  metaKey,
  PENDING_PK,
  type PendingCommit,
  pendingKey,
} from "./items.ts";
import { queryPartition } from "./query-partition.ts";
import {
  backOff,
  type CancellationReason,
  chunkOps,
  deserializeOps,
  estimateBytes,
  MAX_TRANSACTION_BYTES,
  MAX_TRANSACTION_ITEMS,
  type PlannedOp,
  type RetryPolicy,
  serializeOps,
  type TransactOutcome,
  toTransactItem,
  transact,
} from "./transact.ts";

/** Points of a multi-transaction commit where a test can inject a crash. */
export type CommitPoint = "intent-written" | "claimed" | `applied:${number}` | "finishing";
export type FaultHook = (point: CommitPoint, namespace: string) => void | Promise<void>;

/** DynamoDB's item size limit is 400 KB, attribute names included; keep some margin. */
const MAX_ITEM_BYTES = 390_000;
/** Bytes of serialized operations per intent item (the item limit is 400 KB). */
const INTENT_CHUNK_BYTES = 350_000;
const INTENT_TTL_SECONDS = 7 * 24 * 3600;

/** An item DynamoDB would refuse: the same commit fails the same way every time. */
export class ItemTooLargeError extends Error {
  override name = "ItemTooLargeError";
}

export interface GroupCommitterOptions {
  readonly retry: RetryPolicy;
  readonly clock: () => number;
  readonly faults?: FaultHook;
}

export interface CommitRequest {
  readonly namespace: string;
  /** The version the group was loaded at; the commit creates version + 1. */
  readonly version: number;
  /** SET clauses for the meta item besides version/pending, e.g. "#namespace = :namespace". */
  readonly metaSet: readonly string[];
  readonly metaNames: Readonly<Record<string, string>>;
  readonly metaValues: Readonly<Record<string, unknown>>;
  readonly ops: readonly PlannedOp[];
  /**
   * Condition checks on what the commit read outside the group (the zone epoch). They belong to
   * the commit point: in a multi-transaction commit they go in the claim.
   */
  readonly checks?: readonly PlannedOp[];
}

/** Condition checks a claim carries at most, leaving room for the commit's own operations. */
const MAX_CLAIM_CHECKS = 48;

export class GroupCommitter {
  readonly #client: DynamoDBDocumentClient;
  readonly #tables: DynamoTables;
  readonly #options: GroupCommitterOptions;

  constructor(client: DynamoDBDocumentClient, tables: DynamoTables, options: GroupCommitterOptions) {
    this.#client = client;
    this.#tables = tables;
    this.#options = options;
  }

  async commit(request: CommitRequest): Promise<"single" | "multi"> {
    // An item DynamoDB would refuse must fail the commit before it is claimed: a claimed commit
    // whose intent cannot be applied would block its namespace.
    const oversized = request.ops.find((op) => op.bytes > MAX_ITEM_BYTES);
    if (oversized !== undefined) {
      throw new ItemTooLargeError(
        `${oversized.label}: item of about ${oversized.bytes} bytes exceeds DynamoDB's 400 KB`,
      );
    }
    const single = [this.#metaOp(request, undefined), ...request.ops, ...(request.checks ?? [])];
    const bytes = single.reduce((sum, op) => sum + op.bytes, 0);
    if (single.length <= MAX_TRANSACTION_ITEMS && bytes <= MAX_TRANSACTION_BYTES) {
      const outcome = await this.#transact(single, "strict");
      if (!outcome.ok) throw conflictError(request, single, outcome);
      return "single";
    }
    await this.#commitMulti(request);
    return "multi";
  }

  async #commitMulti(request: CommitRequest): Promise<void> {
    const commitId = randomUUID();
    const nowMs = this.#options.clock();
    // Identity counts first: in the claim they take effect atomically with the commit point.
    const ordered = [
      ...request.ops.filter((op) => op.table === "identities"),
      ...request.ops.filter((op) => op.table !== "identities"),
    ];
    const registry: PlannedOp = {
      table: "state",
      key: pendingKey(request.namespace),
      action: { type: "put", item: { commitId, sinceMs: nowMs, version: request.version + 1 } },
      bytes: 200,
      label: `registration of pending commit ${commitId}`,
    };
    const claim: PlannedOp[] = [registry, ...(request.checks ?? []).slice(0, MAX_CLAIM_CHECKS)];
    let claimBytes = claim.reduce((sum, op) => sum + op.bytes, 2000);
    let position = 0;
    for (; position < ordered.length; position++) {
      const op = ordered[position] as PlannedOp;
      if (claim.length + 1 >= MAX_TRANSACTION_ITEMS || claimBytes + op.bytes > MAX_TRANSACTION_BYTES) break;
      claim.push(op);
      claimBytes += op.bytes;
    }
    const rest = ordered.slice(position);
    const encoded = Buffer.from(serializeOps(rest));
    const chunks = Math.max(1, Math.ceil(encoded.length / INTENT_CHUNK_BYTES));
    await this.#writeIntent(request.namespace, commitId, encoded, chunks);
    await this.#fault("intent-written", request.namespace);

    const pending: PendingCommit = { commitId, chunks, version: request.version + 1, sinceMs: nowMs };
    const claimOps = [this.#metaOp(request, pending), ...claim];
    const outcome = await this.#transact(claimOps, "strict");
    if (!outcome.ok) {
      await this.#deleteIntent(request.namespace, commitId, chunks);
      throw conflictError(request, claimOps, outcome);
    }
    await this.#fault("claimed", request.namespace);
    if (await this.#apply(request.namespace, commitId, rest)) {
      await this.#fault("finishing", request.namespace);
      await this.#finish(request.namespace, commitId, chunks);
    }
  }

  /** Completes a claimed commit found pending (its writer died or is still at it). */
  async rollForward(namespace: string, pending: PendingCommit): Promise<void> {
    const ops = await this.#readIntent(namespace, pending);
    if (ops === undefined) {
      const meta = await this.readMeta(namespace);
      if (meta?.pending?.commitId !== pending.commitId) return; // finished meanwhile
      throw new Error(`intent of pending commit ${pending.commitId} of namespace ${namespace} is incomplete`);
    }
    if (await this.#apply(namespace, pending.commitId, ops)) {
      await this.#finish(namespace, pending.commitId, pending.chunks);
    }
  }

  /** Rolls forward every registered pending commit at least `minAgeMs` old; returns how many. */
  async rollForwardRegistered(minAgeMs: number): Promise<number> {
    const registered = await queryPartition(this.#client, this.#tables.state, PENDING_PK);
    let rolled = 0;
    for (const entry of registered) {
      if (this.#options.clock() - Number(entry.sinceMs) < minAgeMs) continue;
      const namespace = String(entry.sk);
      const meta = await this.readMeta(namespace);
      if (meta?.pending !== undefined && meta.pending.commitId === entry.commitId) {
        await this.rollForward(namespace, meta.pending);
        rolled++;
      }
    }
    return rolled;
  }

  async readMeta(namespace: string): Promise<MetaItem | undefined> {
    const result = await this.#client.send(
      new GetCommand({
        TableName: this.#tables.state,
        Key: metaKey(namespace),
        ConsistentRead: true,
        ProjectionExpression: "#version, #pending",
        ExpressionAttributeNames: { "#version": "version", "#pending": "pending" },
      }),
    );
    const item = result.Item;
    if (item === undefined) return undefined;
    return { version: Number(item.version ?? 0), pending: item.pending as PendingCommit | undefined };
  }

  #metaOp(request: CommitRequest, pending: PendingCommit | undefined): PlannedOp {
    const set = ["#version = :next", ...request.metaSet];
    if (pending !== undefined) set.push("#pending = :pending");
    return {
      table: "state",
      key: metaKey(request.namespace),
      action: { type: "update", expression: `SET ${set.join(", ")}` },
      condition:
        request.version === 0
          ? "attribute_not_exists(#version) AND attribute_not_exists(#pending)"
          : "#version = :version AND attribute_not_exists(#pending)",
      names: { ...request.metaNames, "#version": "version", "#pending": "pending" },
      values: {
        ...request.metaValues,
        ":next": request.version + 1,
        ":version": request.version,
        ...(pending === undefined ? {} : { ":pending": pending }),
      },
      bytes: estimateBytes(request.metaValues) + 200,
      label: `group ${request.namespace} version ${request.version}`,
    };
  }

  /** Step 3; false when the commit turned out finished by another roller. */
  async #apply(namespace: string, commitId: string, ops: readonly PlannedOp[]): Promise<boolean> {
    const stillPending: PlannedOp = {
      table: "state",
      key: metaKey(namespace),
      action: { type: "check" },
      replayCondition: "#pending.#commitId = :commitId",
      names: { "#pending": "pending", "#commitId": "commitId" },
      values: { ":commitId": commitId },
      bytes: 200,
      label: `pending commit ${commitId}`,
    };
    const batches = chunkOps(ops, 1);
    for (const [index, batch] of batches.entries()) {
      let remaining = batch;
      while (remaining.length > 0) {
        const outcome = await this.#transact([stillPending, ...remaining], "replay");
        if (outcome.ok) break;
        if (outcome.failed.includes(0)) return false;
        // An op whose replay condition fails was superseded (e.g. the CiliumIdentity another
        // namespace's commit created first, or an identity collected after an unusually long
        // stall): applying the others is the closest to the commit that can still be had.
        remaining = remaining.filter((_, i) => !outcome.failed.includes(i + 1));
      }
      await this.#fault(`applied:${index}`, namespace);
    }
    return true;
  }

  /** Step 4. */
  async #finish(namespace: string, commitId: string, chunks: number): Promise<void> {
    await transact(
      this.#client,
      [
        {
          Update: {
            TableName: this.#tables.state,
            Key: metaKey(namespace),
            UpdateExpression: "REMOVE #pending",
            ConditionExpression: "#pending.#commitId = :commitId",
            ExpressionAttributeNames: { "#pending": "pending", "#commitId": "commitId" },
            ExpressionAttributeValues: { ":commitId": commitId },
          },
        },
        {
          Delete: {
            TableName: this.#tables.state,
            Key: pendingKey(namespace),
            ConditionExpression: "attribute_not_exists(pk) OR commitId = :commitId",
            ExpressionAttributeValues: { ":commitId": commitId },
          },
        },
      ],
      this.#options.retry,
    );
    // A failed condition means another roller finished first: the same outcome.
    await this.#deleteIntent(namespace, commitId, chunks);
  }

  async #writeIntent(namespace: string, commitId: string, encoded: Buffer, chunks: number): Promise<void> {
    const expiresAt = Math.floor(this.#options.clock() / 1000) + INTENT_TTL_SECONDS;
    const puts: Promise<unknown>[] = [];
    for (let chunk = 0; chunk < chunks; chunk++) {
      const data = new Uint8Array(
        encoded.subarray(chunk * INTENT_CHUNK_BYTES, (chunk + 1) * INTENT_CHUNK_BYTES),
      );
      puts.push(
        this.#client.send(
          new PutCommand({
            TableName: this.#tables.state,
            Item: { ...intentChunkKey(namespace, commitId, chunk), data, expiresAt },
          }),
        ),
      );
    }
    await Promise.all(puts);
  }

  async #readIntent(namespace: string, pending: PendingCommit): Promise<PlannedOp[] | undefined> {
    const items = await queryPartition(
      this.#client,
      this.#tables.state,
      intentPk(namespace, pending.commitId),
    );
    if (items.length !== pending.chunks) return undefined;
    items.sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1));
    const encoded = Buffer.concat(items.map((item) => item.data as Uint8Array));
    return deserializeOps(encoded.toString("utf8"));
  }

  /** Best effort: intent items also expire by TTL. */
  async #deleteIntent(namespace: string, commitId: string, chunks: number): Promise<void> {
    try {
      for (let start = 0; start < chunks; start += 25) {
        let requests: Array<Record<string, unknown>> = [];
        for (let chunk = start; chunk < Math.min(chunks, start + 25); chunk++) {
          requests.push({ DeleteRequest: { Key: intentChunkKey(namespace, commitId, chunk) } });
        }
        for (let attempt = 0; requests.length > 0 && attempt < this.#options.retry.attempts; attempt++) {
          if (attempt > 0) await backOff(this.#options.retry, attempt);
          const result = await this.#client.send(
            new BatchWriteCommand({ RequestItems: { [this.#tables.state]: requests as never } }),
          );
          requests = (result.UnprocessedItems?.[this.#tables.state] ?? []) as Array<Record<string, unknown>>;
        }
      }
    } catch {
      // The commit is complete either way; leftovers expire.
    }
  }

  #transact(ops: readonly PlannedOp[], mode: "strict" | "replay"): Promise<TransactOutcome> {
    const items = ops.map((op, i) =>
      toTransactItem(op, this.#tables, mode, { returnOldOnFailure: mode === "strict" && i === 0 }),
    );
    return transact(this.#client, items, this.#options.retry);
  }

  async #fault(point: CommitPoint, namespace: string): Promise<void> {
    await this.#options.faults?.(point, namespace);
  }
}

/** A commit whose conditions failed: the engine replays the group from a fresh load. */
function conflictError(
  request: CommitRequest,
  ops: readonly PlannedOp[],
  outcome: { failed: readonly number[]; reasons: readonly CancellationReason[] },
): GroupConflictError {
  if (outcome.failed.includes(0)) {
    const item = outcome.reasons[0]?.Item as Record<string, { N?: string } | number> | undefined;
    const raw = item?.version;
    const actual = typeof raw === "number" ? raw : Number(raw?.N ?? 0);
    return new GroupConflictError(request.namespace, request.version, actual);
  }
  const error = new GroupConflictError(request.namespace, request.version, request.version);
  error.message = `namespace group ${request.namespace} commit refused: condition failed on ${outcome.failed
    .map((i) => ops[i]?.label ?? `item ${i}`)
    .join(", ")}`;
  return error;
}
