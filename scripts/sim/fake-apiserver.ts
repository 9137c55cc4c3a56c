/**
 * A small Kubernetes API server for the bridge (its tests and `npm run sim-cluster`): list and watch of Pods, Services,
 * Namespaces and Nodes in the real wire format (lists without kind/apiVersion on their items,
 * paged with limit/continue; watches as newline-delimited events with BOOKMARKs on request), fed
 * by the cluster simulator's events. Tests can drop every watch, refuse new ones for a while (a
 * network gap) and compact the history, after which a watch from an older resourceVersion gets
 * the 410 Gone ERROR event a real apiserver sends.
 *
 * It can also replay recorded responses (`replay`): for a kind and verb, each request gets the next
 * recorded body, byte for byte, written in chunks as HTTP chunked transfer does, whatever it asked
 * for; the simulator's state is not consulted for that kind and verb.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SimEvent } from "#scripts/sim/cluster-simulator.ts";

export type FakeKind = "Pod" | "Service" | "Namespace" | "Node";
type Kind = FakeKind;

/** A response recorded from a real API server (or assembled from recorded objects), served byte for byte. */
export interface RecordedResponse {
  readonly body: Uint8Array;
  /** HTTP status; 200 by default (a watch that ends in 410 Gone is a 200 carrying an ERROR event). */
  readonly status?: number;
  /** Sizes of the successive writes, cycled: a body split anywhere, as chunked transfer may split it. */
  readonly chunkSizes?: readonly number[];
  /** A watch: keep the connection open after the body (an idle watch); by default it ends, as at a watch timeout. */
  readonly holdOpen?: boolean;
  /** Served only once this settles (lets a test sequence a recorded stream against the bridge). */
  readonly after?: Promise<unknown>;
}

/** A recorded response as served: to which request, and how many bytes in how many writes. */
export interface ServedRecording {
  readonly kind: Kind;
  readonly verb: "list" | "watch";
  readonly query: URLSearchParams;
  readonly bytes: number;
  readonly writes: number;
}

const RESOURCES: Record<string, Kind> = {
  pods: "Pod",
  services: "Service",
  namespaces: "Namespace",
  nodes: "Node",
};

interface Metadata {
  name: string;
  namespace?: string;
  resourceVersion: string;
}

interface StoredObject {
  kind: string;
  apiVersion: string;
  metadata: Metadata;
}

interface LoggedEvent {
  readonly revision: number;
  readonly type: SimEvent["type"];
  readonly object: StoredObject;
}

interface OpenWatch {
  readonly kind: Kind;
  readonly response: ServerResponse;
}

export class FakeApiServer {
  readonly #objects = new Map<Kind, Map<string, StoredObject>>();
  readonly #log = new Map<Kind, LoggedEvent[]>();
  readonly #watches = new Set<OpenWatch>();
  readonly #pagedLists = new Map<string, { revision: number; items: StoredObject[] }>();
  readonly #replays = new Map<string, RecordedResponse[]>();
  readonly #lastReplayedList = new Map<Kind, RecordedResponse>();
  /** Recorded responses served, in order (`replay`). */
  readonly served: ServedRecording[] = [];
  #server: Server | undefined;
  #revision = 0;
  #compactedRevision = 0;
  #refusingWatches = false;
  #nextToken = 0;
  /** Requests served, by "list Pod", "watch Pod", "gone Pod" (410), "refused Pod". */
  readonly requests = new Map<string, number>();
  url = "";

  /** Listens on 127.0.0.1 (port 0: any free one). */
  async start(port = 0): Promise<void> {
    this.#server = createServer((request, response) => this.#handle(request, response));
    await new Promise<void>((resolve, reject) => {
      this.#server?.once("error", reject);
      this.#server?.listen(port, "127.0.0.1", resolve);
    });
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.closeWatches();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
    this.#server?.closeAllConnections();
  }

  get revision(): number {
    return this.#revision;
  }

  /** A change in the cluster: stored, logged and streamed to the open watches of its kind. */
  apply(event: SimEvent): void {
    const object = structuredClone(event.object) as unknown as StoredObject;
    const kind = object.kind as Kind;
    const revision = Number(object.metadata.resourceVersion);
    this.#revision = Math.max(this.#revision, revision);
    const objects = this.#objectsOf(kind);
    const key = `${object.metadata.namespace ?? ""}/${object.metadata.name}`;
    if (event.type === "DELETED") objects.delete(key);
    else objects.set(key, object);
    const logged: LoggedEvent = { revision, type: event.type, object };
    this.#logOf(kind).push(logged);
    for (const watch of this.#watches) if (watch.kind === kind) writeEvent(watch.response, logged);
  }

  /** Forgets the history up to now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#compactedRevision = this.#revision;
    for (const log of this.#log.values()) log.length = 0;
  }

  /** Ends every open watch, as a dropped connection or an apiserver restart would. */
  closeWatches(): void {
    for (const watch of this.#watches) watch.response.end();
    this.#watches.clear();
  }

  /** While set, watch requests get 503 (the apiserver unreachable); lists still work. */
  refuseWatches(refuse: boolean): void {
    this.#refusingWatches = refuse;
    if (refuse) this.closeWatches();
  }

  /** A BOOKMARK at the current revision on every open watch that asked for them. */
  bookmark(): void {
    for (const watch of this.#watches) {
      const kind = watch.kind;
      watch.response.write(
        `${JSON.stringify({ type: "BOOKMARK", object: { kind, apiVersion: "v1", metadata: { resourceVersion: String(this.#revision) } } })}\n`,
      );
    }
  }

  /**
   * From now on, the `verb` requests of `kind` get these responses, one per request in order. Once
   * they are used up, a list gets the last list again and a watch stays open and silent.
   */
  replay(kind: Kind, verb: "list" | "watch", responses: readonly RecordedResponse[]): void {
    this.#replays.set(`${verb} ${kind}`, [...responses]);
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? "/", "http://fake");
    const match = /^\/api\/v1\/(pods|services|namespaces|nodes)$/.exec(url.pathname);
    const kind = match === null ? undefined : RESOURCES[match[1] as string];
    if (kind === undefined || request.method !== "GET") {
      sendStatus(response, 404, "NotFound", `${request.method} ${url.pathname}: not served`);
      return;
    }
    const verb = url.searchParams.get("watch") === "true" ? "watch" : "list";
    const script = this.#replays.get(`${verb} ${kind}`);
    if (script !== undefined) void this.#serveRecorded(kind, verb, url, response, script.shift());
    else if (verb === "watch") this.#watch(kind, url, response);
    else this.#list(kind, url, response);
  }

  async #serveRecorded(
    kind: Kind,
    verb: "list" | "watch",
    url: URL,
    response: ServerResponse,
    recorded: RecordedResponse | undefined,
  ): Promise<void> {
    this.#count(`${verb} ${kind}`);
    const next = recorded ?? (verb === "list" ? this.#lastReplayedList.get(kind) : undefined);
    if (next === undefined) {
      // A watch past the end of the recording: open, and silent until the server stops.
      response.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      response.flushHeaders();
      const watch: OpenWatch = { kind, response };
      this.#watches.add(watch);
      response.on("close", () => this.#watches.delete(watch));
      return;
    }
    if (verb === "list") this.#lastReplayedList.set(kind, next);
    await next.after;
    if (response.destroyed) return;
    response.writeHead(next.status ?? 200, {
      "content-type": "application/json",
      "transfer-encoding": "chunked",
    });
    const sizes =
      next.chunkSizes === undefined || next.chunkSizes.length === 0 ? [next.body.length] : next.chunkSizes;
    let offset = 0;
    let writes = 0;
    while (offset < next.body.length && !response.destroyed) {
      const size = Math.max(1, sizes[writes % sizes.length] as number);
      response.write(next.body.subarray(offset, offset + size));
      offset += size;
      writes++;
      // A pause between writes, so that the client reads them as separate chunks.
      if (offset < next.body.length) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    this.served.push({
      kind,
      verb,
      query: url.searchParams,
      bytes: Math.min(offset, next.body.length),
      writes,
    });
    if (next.holdOpen === true && verb === "watch") {
      const watch: OpenWatch = { kind, response };
      this.#watches.add(watch);
      response.on("close", () => this.#watches.delete(watch));
    } else response.end();
  }

  #list(kind: Kind, url: URL, response: ServerResponse): void {
    this.#count(`list ${kind}`);
    const limit = Number(url.searchParams.get("limit") ?? "0");
    const token = url.searchParams.get("continue");
    let snapshot: { revision: number; items: StoredObject[] };
    if (token !== null) {
      const paged = this.#pagedLists.get(token);
      if (paged === undefined) {
        sendStatus(response, 410, "Expired", "the continue token has expired");
        return;
      }
      this.#pagedLists.delete(token);
      snapshot = paged;
    } else {
      // List items carry no kind or apiVersion, as a real apiserver's do.
      const items = [...this.#objectsOf(kind).values()].map(({ kind: _k, apiVersion: _a, ...rest }) =>
        structuredClone(rest as StoredObject),
      );
      snapshot = { revision: this.#revision, items };
    }
    const page = limit > 0 ? snapshot.items.slice(0, limit) : snapshot.items;
    const rest = limit > 0 ? snapshot.items.slice(limit) : [];
    const metadata: Record<string, string> = { resourceVersion: String(snapshot.revision) };
    if (rest.length > 0) {
      const next = `t${this.#nextToken++}`;
      this.#pagedLists.set(next, { revision: snapshot.revision, items: rest });
      metadata.continue = next;
    }
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ kind: `${kind}List`, apiVersion: "v1", metadata, items: page }));
  }

  #watch(kind: Kind, url: URL, response: ServerResponse): void {
    if (this.#refusingWatches) {
      this.#count(`refused ${kind}`);
      sendStatus(response, 503, "ServiceUnavailable", "the apiserver is unreachable");
      return;
    }
    const from = Number(url.searchParams.get("resourceVersion") || this.#revision);
    response.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    if (from < this.#compactedRevision) {
      this.#count(`gone ${kind}`);
      const status = {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `too old resource version: ${from} (${this.#compactedRevision})`,
        reason: "Expired",
        code: 410,
      };
      response.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
      return;
    }
    this.#count(`watch ${kind}`);
    for (const logged of this.#logOf(kind)) if (logged.revision > from) writeEvent(response, logged);
    const watch: OpenWatch = { kind, response };
    this.#watches.add(watch);
    response.on("close", () => this.#watches.delete(watch));
  }

  #objectsOf(kind: Kind): Map<string, StoredObject> {
    let objects = this.#objects.get(kind);
    if (objects === undefined) {
      objects = new Map();
      this.#objects.set(kind, objects);
    }
    return objects;
  }

  #logOf(kind: Kind): LoggedEvent[] {
    let log = this.#log.get(kind);
    if (log === undefined) {
      log = [];
      this.#log.set(kind, log);
    }
    return log;
  }

  #count(what: string): void {
    this.requests.set(what, (this.requests.get(what) ?? 0) + 1);
  }
}

function writeEvent(response: ServerResponse, logged: LoggedEvent): void {
  response.write(`${JSON.stringify({ type: logged.type, object: logged.object })}\n`);
}

function sendStatus(response: ServerResponse, code: number, reason: string, message: string): void {
  response.writeHead(code, { "content-type": "application/json" });
  response.end(
    JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code }),
  );
}
