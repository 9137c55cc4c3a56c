/**
 * The cluster side of the bridge: one client-node ListWatch (the informer) per kind, listing in
 * pages and then watching with bookmarks. A list error or a dropped watch is retried by the
 * informer (410 Gone makes it list again); an informer that gave up after an error is restarted
 * here with a backoff. `relist` replaces a kind's informer, so its next list is a full one.
 */
import { CoreV1Api, type KubeConfig, type KubernetesObject, ListWatch, Watch } from "@kubernetes/client-node";
import type { BridgeKind, KubeObject } from "./contract-object.ts";

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

/** What the source reports; the bridge implements it. */
export interface SourceSink {
  change(kind: BridgeKind, type: ChangeType, object: KubeObject): void;
  /** A completed list: every object of the kind at `resourceVersion`. Called before its ADDED events. */
  listed(kind: BridgeKind, objects: readonly KubeObject[], resourceVersion: string): void;
  bookmark(kind: BridgeKind, resourceVersion: string): void;
  error(kind: BridgeKind, error: unknown): void;
}

export interface ClusterSource {
  start(sink: SourceSink): Promise<void>;
  relist(kind: BridgeKind): void;
  stop(): Promise<void>;
}

const PATHS: Record<BridgeKind, string> = {
  Pod: "/api/v1/pods",
  Service: "/api/v1/services",
  Namespace: "/api/v1/namespaces",
  Node: "/api/v1/nodes",
};

/** Page size of lists, as client-go's reflector uses. */
const LIST_PAGE_SIZE = 500;
const RESTART_BASE_MS = 1000;
const RESTART_MAX_MS = 30_000;

interface ListPage {
  metadata?: { resourceVersion?: string; _continue?: string };
  items: KubernetesObject[];
}

/** Watch requests with bookmarks on, and each bookmark reported. */
class BookmarkingWatch extends Watch {
  readonly #onBookmark: (resourceVersion: string) => void;

  constructor(config: KubeConfig, onBookmark: (resourceVersion: string) => void) {
    super(config);
    this.#onBookmark = onBookmark;
  }

  override watch(
    path: string,
    queryParams: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, object, raw) => {
        if (phase === "BOOKMARK")
          this.#onBookmark(String((object as KubeObject)?.metadata?.resourceVersion ?? ""));
        callback(phase, object, raw);
      },
      done,
    );
  }
}

export class KubeClusterSource implements ClusterSource {
  readonly #config: KubeConfig;
  readonly #api: CoreV1Api;
  readonly #informers = new Map<BridgeKind, ListWatch<KubernetesObject>>();
  readonly #restartAttempts = new Map<BridgeKind, number>();
  #sink: SourceSink | undefined;
  #stopped = false;

  constructor(config: KubeConfig) {
    this.#config = config;
    this.#api = config.makeApiClient(CoreV1Api);
  }

  /**
   * Namespaces first: their list must be known before pods and Services are resynced, so a
   * namespace whose pods all went during a gap still gets its (empty) resync.
   */
  async start(sink: SourceSink): Promise<void> {
    this.#sink = sink;
    this.#stopped = false;
    await this.#startInformer("Namespace");
    await Promise.all((["Node", "Service", "Pod"] as const).map((kind) => this.#startInformer(kind)));
  }

  relist(kind: BridgeKind): void {
    if (this.#stopped) return;
    const old = this.#informers.get(kind);
    this.#informers.delete(kind);
    void old?.stop();
    void this.#startInformer(kind);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#informers.values()].map((informer) => informer.stop()));
    this.#informers.clear();
  }

  /** Resolves after the first list of the kind completed (or failed, to be retried). */
  #startInformer(kind: BridgeKind): Promise<void> {
    const sink = this.#sink;
    if (sink === undefined) throw new Error("source not started");
    return new Promise((resolve) => {
      const listed = (objects: readonly KubeObject[], resourceVersion: string): void => {
        this.#restartAttempts.delete(kind);
        sink.listed(kind, objects, resourceVersion);
        resolve();
      };
      const informer = new ListWatch<KubernetesObject>(
        PATHS[kind],
        new BookmarkingWatch(this.#config, (resourceVersion) => sink.bookmark(kind, resourceVersion)),
        async () => {
          const list = await this.#listAll(kind);
          if (this.#informers.get(kind) === informer)
            listed(list.items as KubeObject[], list.metadata?.resourceVersion ?? "");
          return list as never;
        },
        false,
      );
      const current = () => this.#informers.get(kind) === informer;
      informer.on("add", (object) => current() && sink.change(kind, "ADDED", object as KubeObject));
      informer.on("update", (object) => current() && sink.change(kind, "MODIFIED", object as KubeObject));
      informer.on("delete", (object) => current() && sink.change(kind, "DELETED", object as KubeObject));
      informer.on("error", (error) => {
        if (!current()) return;
        sink.error(kind, error);
        resolve();
        this.#restartLater(kind, informer);
      });
      this.#informers.set(kind, informer);
      void informer.start();
    });
  }

  /** client-node's informer stops for good after an error other than 410 or a timeout. */
  #restartLater(kind: BridgeKind, informer: ListWatch<KubernetesObject>): void {
    const attempt = (this.#restartAttempts.get(kind) ?? 0) + 1;
    this.#restartAttempts.set(kind, attempt);
    const delayMs =
      Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    setTimeout(() => {
      if (!this.#stopped && this.#informers.get(kind) === informer) void informer.start();
    }, delayMs).unref();
  }

  /** A full list in pages, all from one snapshot (the continue token pins its resourceVersion). */
  async #listAll(kind: BridgeKind): Promise<ListPage> {
    const items: KubernetesObject[] = [];
    let resourceVersion = "";
    let token: string | undefined;
    do {
      const page = (await this.#listPage(kind, token)) as ListPage;
      items.push(...page.items);
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      token = page.metadata?._continue || undefined;
    } while (token !== undefined);
    return { metadata: { resourceVersion }, items };
  }

  #listPage(kind: BridgeKind, token: string | undefined): Promise<unknown> {
    const request = { limit: LIST_PAGE_SIZE, ...(token === undefined ? {} : { _continue: token }) };
    switch (kind) {
      case "Pod":
        return this.#api.listPodForAllNamespaces(request);
      case "Service":
        return this.#api.listServiceForAllNamespaces(request);
      case "Namespace":
        return this.#api.listNamespace(request);
      case "Node":
        return this.#api.listNode(request);
    }
  }
}
