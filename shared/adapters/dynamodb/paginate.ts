/**
 * The one paginator of the DynamoDB adapters: every Query or Scan that follows LastEvaluatedKey
 * goes through these generators, so a loop that forgets the last page or restarts from the first
 * cannot be written twice. A caller that needs less than everything stops iterating (`break`), and
 * the next page is never requested.
 *
 * Why not `paginateQuery` / `paginateScan` of @aws-sdk/lib-dynamodb: they refuse any client that is
 * not an `instanceof DynamoDBDocumentClient` (the tests' counting and failing doubles only
 * implement `send`) and they write the start key into the caller's input object.
 */
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  ScanCommand,
  type ScanCommandInput,
  type ScanCommandOutput,
} from "@aws-sdk/lib-dynamodb";

export type DocumentSender = Pick<DynamoDBDocumentClient, "send">;
type StartKey = Record<string, unknown>;

/** Every page of a Query, from `ExclusiveStartKey` (if the input has one) to the last. */
export function queryPages(
  client: DocumentSender,
  input: QueryCommandInput,
): AsyncGenerator<QueryCommandOutput, void, undefined> {
  return pages(input, (pageInput) => client.send(new QueryCommand(pageInput)));
}

/** Every page of a Scan, from `ExclusiveStartKey` (if the input has one) to the last. */
export function scanPages(
  client: DocumentSender,
  input: ScanCommandInput,
): AsyncGenerator<ScanCommandOutput, void, undefined> {
  return pages(input, (pageInput) => client.send(new ScanCommand(pageInput)));
}

/** The loop of both: the caller's input again for each page, from where the page before stopped. */
async function* pages<
  Input extends { ExclusiveStartKey?: StartKey | undefined },
  Output extends { LastEvaluatedKey?: StartKey | undefined },
>(input: Input, send: (pageInput: Input) => Promise<Output>): AsyncGenerator<Output, void, undefined> {
  let startKey: StartKey | undefined = input.ExclusiveStartKey;
  do {
    const page = await send({ ...input, ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }) });
    yield page;
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
}

/** Every item a Query returns, all pages read. */
export async function queryAllItems(
  client: DocumentSender,
  input: QueryCommandInput,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of queryPages(client, input)) items.push(...(page.Items ?? []));
  return items;
}
