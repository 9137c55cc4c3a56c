/**
 * Identity range use on the identities table: the allocation cursor item counts the identities
 * alive (`allocated`: incremented in the transaction that creates one, decremented in the one that
 * garbage-collects it), so one GetItem answers it, however many identities there are.
 */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { type IdentityRangeUse, identityRangeUse } from "#shared/core/identity/identity-range-use.ts";
import { CURSOR_KEY } from "./items.ts";

export interface IdentityRange {
  readonly rangeMin?: number;
  readonly rangeMax?: number;
}

/** The identity range use recorded in `identitiesTable` (eventually consistent: a gauge). */
export async function readIdentityRangeUse(
  documents: DynamoDBDocumentClient,
  identitiesTable: string,
  range: IdentityRange = {},
): Promise<IdentityRangeUse> {
  const result = await documents.send(
    new GetCommand({ TableName: identitiesTable, Key: CURSOR_KEY, ProjectionExpression: "allocated" }),
  );
  return identityRangeUse(Number(result.Item?.allocated ?? 0), range.rangeMin, range.rangeMax);
}

/**
 * The same, read at most once per refresh interval, for a handler that reports it with every
 * invocation: a failed read keeps the last value (a gauge must not fail the batch it rides on).
 */
export class CachedIdentityRangeUse {
  readonly #documents: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #refreshMs: number;
  #last: IdentityRangeUse | undefined;
  #readAtMs = Number.NEGATIVE_INFINITY;

  constructor(documents: DynamoDBDocumentClient, identitiesTable: string, refreshMs = 60_000) {
    this.#documents = documents;
    this.#table = identitiesTable;
    this.#refreshMs = refreshMs;
  }

  /** The latest use read, refreshed when older than the interval; undefined until one read succeeds. */
  async current(nowMs = Date.now()): Promise<IdentityRangeUse | undefined> {
    if (nowMs - this.#readAtMs < this.#refreshMs) return this.#last;
    this.#readAtMs = nowMs;
    try {
      this.#last = await readIdentityRangeUse(this.#documents, this.#table);
    } catch {
      // Kept: the next interval tries again.
    }
    return this.#last;
  }
}
