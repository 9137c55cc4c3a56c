/**
 * A counting HTTP proxy in front of a local backend (DynamoDB Local, fauxqs): the benchmark's
 * source for "AWS requests per pod change". Counting on the wire sees every request every part of
 * the pipeline makes (handlers, event-source pollers), without touching the handlers' clients.
 *
 * DynamoDB write units are estimated from the request bodies with the benchmark's one rule
 * (write-units.ts: DynamoDB's item size, twice inside a transaction, once more on every index that
 * copies whole items, an entry on a keys-only index when a create enters it or a delete leaves
 * it), attributed to the partition keys they land on (`setWriteLayouts`, from the template's
 * tables), so the busiest key's share is measured, not assumed. A delete names only the item's
 * key: the keys-only index keys it leaves are those its last put carried (IndexKeyMemory).
 *
 * With a fault injector (scripts/local/fault-proxy.ts, the fault suite), a request the injector
 * picks is answered with an AWS error, never answered (held until stop), or has its connection
 * reset, before or after it is forwarded; it is counted like any other.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { faultAnswer, type ProxyFault, type RequestFaultInjector } from "#scripts/local/fault-proxy.ts";
import {
  type IndexEntryChange,
  itemWriteUnits,
  type KeyedWriteUnits,
  putCreates,
  type TableWriteLayout,
  WriteUnitLedger,
  wireItemBytes,
} from "./write-units.ts";

export interface RequestCounts {
  /** "<service>:<action>" -> requests */
  readonly requests: Record<string, number>;
  /** Estimated DynamoDB write request units (on-demand). */
  writeUnits: number;
  /** The same units by the partition key (table or index) they land on. */
  readonly writeUnitsByKey: WriteUnitLedger;
  /** Estimated DynamoDB read request units for queries/gets (from response sizes, eventually consistent). */
  readUnits: number;
  bytesIn: number;
  bytesOut: number;
}

export interface CountingProxy {
  readonly endpoint: string;
  readonly counts: RequestCounts;
  /** Table name -> where its writes land (partition key, indexes that copy whole items). */
  setWriteLayouts(layouts: Readonly<Record<string, TableWriteLayout>>): void;
  reset(): void;
  stop(): Promise<void>;
}

export function emptyCounts(): RequestCounts {
  return {
    requests: {},
    writeUnits: 0,
    writeUnitsByKey: new WriteUnitLedger(),
    readUnits: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
}

export interface CountingProxyOptions {
  readonly faults?: RequestFaultInjector;
}

export async function startCountingProxy(
  target: string,
  options: CountingProxyOptions = {},
): Promise<CountingProxy> {
  const targetUrl = new URL(target);
  let counts = emptyCounts();
  let layouts: Readonly<Record<string, TableWriteLayout>> = {};
  // Outlives reset(): items put during a run's load are deleted during its measurement.
  const indexKeys = new IndexKeyMemory();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const action = actionOf(req.headers["x-amz-target"], body);
      counts.requests[action] = (counts.requests[action] ?? 0) + 1;
      counts.bytesIn += body.length;
      if (action.startsWith("dynamodb:")) {
        const units = writeUnitsByKey(action, body, (table) => layouts[table], indexKeys);
        counts.writeUnitsByKey.add(units);
        counts.writeUnits += units.reduce((sum, entry) => sum + entry.units, 0);
      }
      const fault = options.faults?.decide(action, req.headers);
      if (fault !== undefined && !fault.afterForward) {
        injectFault(fault, action, req, res);
        return;
      }
      const upstream = httpRequest(
        {
          hostname: targetUrl.hostname,
          port: targetUrl.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (response) => {
          if (fault !== undefined) {
            response.resume(); // applied upstream; the answer is what gets lost
            response.on("end", () => injectFault(fault, action, req, res));
            return;
          }
          res.writeHead(response.statusCode ?? 502, response.headers);
          let bytes = 0;
          response.on("data", (chunk: Buffer) => {
            bytes += chunk.length;
            res.write(chunk);
          });
          response.on("end", () => {
            counts.bytesOut += bytes;
            if (action === "dynamodb:Query" || action === "dynamodb:GetItem" || action === "dynamodb:Scan")
              counts.readUnits += Math.max(1, Math.ceil(bytes / 4096)) / 2;
            res.end();
          });
        },
      );
      upstream.on("error", (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      upstream.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get counts() {
      return counts;
    },
    setWriteLayouts(next) {
      layouts = next;
    },
    reset() {
      counts = emptyCounts();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers as AWS does when it throttles or fails, or holds the request unanswered, or resets it. */
function injectFault(fault: ProxyFault, action: string, req: IncomingMessage, res: ServerResponse): void {
  switch (fault.kind) {
    case "reset":
      req.socket.destroy();
      return;
    case "timeout":
      return; // never answered; stop() closes the connection
    default: {
      const answer = faultAnswer(action, fault.kind, fault.variant);
      res.writeHead(answer.status, { ...answer.headers, "content-length": Buffer.byteLength(answer.body) });
      res.end(answer.body);
    }
  }
}

/** JSON protocols name the action in X-Amz-Target; SNS's query protocol in the form body. */
export function actionOf(target: string | string[] | undefined, body: Buffer): string {
  const header = Array.isArray(target) ? target[0] : target;
  if (header !== undefined) {
    const [prefix, action] = header.split(".");
    const service = prefix?.startsWith("DynamoDBStreams")
      ? "streams"
      : prefix?.startsWith("DynamoDB")
        ? "dynamodb"
        : prefix?.startsWith("AmazonSQS")
          ? "sqs"
          : (prefix ?? "unknown");
    return `${service}:${action ?? "unknown"}`;
  }
  const action = formParameter(body, "Action");
  return action === undefined ? "unknown:unknown" : `sns:${action}`;
}

/**
 * One parameter of a form body, found without parsing the rest (an SNS PublishBatch body carries
 * ten bundles: URLSearchParams decoded every one of them to read the action's name). Names and
 * values are URL-encoded, so "&Action=" cannot occur inside another parameter's value.
 */
function formParameter(form: Buffer, name: string): string | undefined {
  const at =
    form.subarray(0, name.length + 1).toString("latin1") === `${name}=` ? 0 : form.indexOf(`&${name}=`);
  if (at < 0) return undefined;
  const start = form.indexOf("=", at) + 1;
  const end = form.indexOf("&", start);
  const value = form.subarray(start, end < 0 ? form.length : end).toString("latin1");
  return decodeURIComponent(value.replaceAll("+", " "));
}

type WireItem = Record<string, unknown>;

/**
 * The keys-only index keys of the items put (by table and item key), so that a delete, which
 * names the key alone, is attributed to the index keys the item leaves.
 */
export class IndexKeyMemory {
  readonly #byItem = new Map<string, Record<string, string>>();

  remember(table: string, layout: TableWriteLayout | undefined, item: WireItem | undefined): void {
    const indexes = layout?.keyIndexes ?? [];
    if (item === undefined || indexes.length === 0) return;
    const values: Record<string, string> = {};
    for (const index of indexes) {
      const value = stringOf(item[index.partitionKey]);
      if (value !== undefined) values[index.partitionKey] = value;
    }
    const key = itemKeyOf(table, item);
    if (Object.keys(values).length === 0) this.#byItem.delete(key);
    else this.#byItem.set(key, values);
  }

  /** The index keys the item last put with carried; forgotten (the item is deleted). */
  forget(table: string, key: WireItem | undefined): Readonly<Record<string, string>> {
    if (key === undefined) return {};
    const itemKey = itemKeyOf(table, key);
    const values = this.#byItem.get(itemKey) ?? {};
    this.#byItem.delete(itemKey);
    return values;
  }
}

function itemKeyOf(table: string, item: WireItem): string {
  return `${table}|${stringOf(item.pk) ?? ""}|${stringOf(item.sk) ?? ""}`;
}

interface WriteRequestBody {
  TableName?: string;
  Item?: WireItem;
  ConditionExpression?: string;
  TransactItems?: Array<
    Record<string, { TableName?: string; Item?: WireItem; Key?: WireItem; ConditionExpression?: string }>
  >;
  RequestItems?: Record<
    string,
    Array<{ PutRequest?: { Item?: WireItem }; DeleteRequest?: { Key?: WireItem } }>
  >;
  Key?: WireItem;
}

const WRITE_ACTIONS: ReadonlySet<string> = new Set([
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:TransactWriteItems",
  "dynamodb:BatchWriteItem",
]);

/** The write units of one DynamoDB request, by the key they land on (write-units.ts). */
export function writeUnitsByKey(
  action: string,
  body: Buffer,
  layoutOf: (table: string) => TableWriteLayout | undefined = () => undefined,
  indexKeys: IndexKeyMemory = new IndexKeyMemory(),
): KeyedWriteUnits[] {
  // Reads cost no write units: their bodies are not parsed at all.
  if (!WRITE_ACTIONS.has(action)) return [];
  let parsed: WriteRequestBody;
  try {
    parsed = JSON.parse(body.toString("utf8")) as WriteRequestBody;
  } catch {
    return [];
  }
  const put = (
    table: string,
    item: WireItem | undefined,
    condition: string | undefined,
    transactional: boolean,
  ) => {
    const layout = layoutOf(table);
    indexKeys.remember(table, layout, item);
    const indexEntry: IndexEntryChange | undefined = putCreates(condition) ? "enters" : undefined;
    return itemWriteUnits(
      table,
      layout,
      { bytes: wireItemBytes(item ?? {}), keyOf: (attribute) => stringOf(item?.[attribute]), indexEntry },
      transactional,
    );
  };
  // Addressed by key: 1 unit, whatever the item's size.
  const byKey = (table: string, key: WireItem | undefined, transactional: boolean) =>
    itemWriteUnits(
      table,
      layoutOf(table),
      { bytes: 1, keyOf: (attribute) => stringOf(key?.[attribute]) },
      transactional,
    );
  // A delete leaves the keys-only indexes its item was in.
  const remove = (table: string, key: WireItem | undefined, transactional: boolean) => {
    const left = indexKeys.forget(table, key);
    return itemWriteUnits(
      table,
      layoutOf(table),
      { bytes: 1, keyOf: (attribute) => stringOf(key?.[attribute]) ?? left[attribute], indexEntry: "leaves" },
      transactional,
    );
  };
  switch (action) {
    case "dynamodb:PutItem":
      return put(parsed.TableName ?? "", parsed.Item, parsed.ConditionExpression, false);
    case "dynamodb:UpdateItem":
      return byKey(parsed.TableName ?? "", parsed.Key, false);
    case "dynamodb:DeleteItem":
      return remove(parsed.TableName ?? "", parsed.Key, false);
    case "dynamodb:TransactWriteItems":
      return (parsed.TransactItems ?? []).flatMap((entry) => {
        const [type, operation] = Object.entries(entry)[0] ?? [];
        const table = operation?.TableName ?? "";
        if (type === "Put") return put(table, operation?.Item, operation?.ConditionExpression, true);
        // A condition check is billed as a transactional write of its item's key; it copies nothing.
        if (type === "ConditionCheck") return byKey(table, operation?.Key, true).slice(0, 1);
        if (type === "Delete") return remove(table, operation?.Key, true);
        return byKey(table, operation?.Key, true);
      });
    case "dynamodb:BatchWriteItem":
      return Object.entries(parsed.RequestItems ?? {}).flatMap(([table, entries]) =>
        entries.flatMap((entry) =>
          entry.PutRequest !== undefined
            ? put(table, entry.PutRequest.Item, undefined, false)
            : remove(table, entry.DeleteRequest?.Key, false),
        ),
      );
    default:
      return [];
  }
}

/** Total write units of one request. */
export function writeUnitsOf(
  action: string,
  body: Buffer,
  layoutOf: (table: string) => TableWriteLayout | undefined = () => undefined,
): number {
  return writeUnitsByKey(action, body, layoutOf).reduce((sum, entry) => sum + entry.units, 0);
}

function stringOf(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const attribute = value as { S?: unknown; N?: unknown; B?: unknown };
  const inner = attribute.S ?? attribute.N ?? attribute.B;
  return inner === undefined ? undefined : String(inner);
}
