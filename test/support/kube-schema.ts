/**
 * Manifest checks without a cluster: the fields of a Kubernetes object against the OpenAPI
 * models client-node is generated from (their attribute maps), which finds what a server's
 * strict field validation would refuse (an unknown or misplaced field, a list where an object
 * goes), and a discovery-only API server that lets kubectl map a manifest's kinds offline.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";

type AttributeMap = ReadonlyArray<{ readonly baseName: string; readonly type: string }>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Where `value` does not fit the model `type` (client-node's type names: V1Deployment, Array<...>, ...). */
export function schemaErrors(value: unknown, type: string, path = ""): string[] {
  if (value === null || type === "any") return [];
  if (type === "IntOrString")
    return typeof value === "string" || typeof value === "number" ? [] : [`${path}: want an int or a string`];
  const array = /^Array<(.+)>$/.exec(type);
  if (array !== null) {
    if (!Array.isArray(value)) return [`${path}: want a list`];
    return value.flatMap((item, index) => schemaErrors(item, array[1] as string, `${path}[${index}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) {
    if (!isRecord(value)) return [`${path}: want a map`];
    return Object.entries(value).flatMap(([key, item]) =>
      schemaErrors(item, map[1] as string, `${path}.${key}`),
    );
  }
  if (type === "string" || type === "Date")
    return typeof value === "string" ? [] : [`${path}: want a string`];
  if (type === "number") return typeof value === "number" ? [] : [`${path}: want a number`];
  if (type === "boolean") return typeof value === "boolean" ? [] : [`${path}: want a boolean`];
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap } | undefined>)[
    type
  ];
  if (model?.getAttributeTypeMap === undefined) return [`${path}: no model ${type}`];
  if (!isRecord(value)) return [`${path}: want an object (${type})`];
  const fields = new Map(
    model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]),
  );
  return Object.entries(value).flatMap(([key, item]) => {
    const fieldType = fields.get(key);
    return fieldType === undefined
      ? [`${path}.${key}: not a field of ${type}`]
      : schemaErrors(item, fieldType, `${path}.${key}`);
  });
}

/** The model of a manifest object: `V1Deployment` for apps/v1 Deployment, `V1ClusterRole` for rbac's. */
export function modelOf(object: { apiVersion?: unknown; kind?: unknown }): string {
  const version =
    String(object.apiVersion ?? "")
      .split("/")
      .at(-1) ?? "";
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${String(object.kind)}`;
}

export interface DiscoveryResource {
  readonly groupVersion: string;
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/**
 * An API server that serves discovery only (/api, /apis and each group version's resources):
 * enough for `kubectl create --dry-run=client --validate=false` to map kinds to resources.
 */
export async function startDiscoveryServer(
  resources: readonly DiscoveryResource[],
): Promise<{ url: string; close(): Promise<void> }> {
  const versions = [...new Set(resources.map((resource) => resource.groupVersion))];
  const groups = versions.filter((groupVersion) => groupVersion.includes("/"));
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://discovery").pathname;
    let body: unknown;
    if (path === "/api") body = { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] };
    else if (path === "/apis")
      body = {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: groups.map((groupVersion) => {
          const [group, version] = groupVersion.split("/");
          const preferred = { groupVersion, version };
          return { name: group, versions: [preferred], preferredVersion: preferred };
        }),
      };
    else {
      const groupVersion = path === "/api/v1" ? "v1" : path.replace(/^\/apis\//, "");
      if (versions.includes(groupVersion))
        body = {
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion,
          resources: resources
            .filter((resource) => resource.groupVersion === groupVersion)
            .map((resource) => ({
              name: resource.name,
              singularName: "",
              namespaced: resource.namespaced,
              kind: resource.kind,
              verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
            })),
        };
    }
    response.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" });
    response.end(JSON.stringify(body ?? { kind: "Status", apiVersion: "v1", status: "Failure", code: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Parses concatenated JSON documents (kubectl -o json prints them one after another). */
export function jsonDocuments(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === "}") {
      depth--;
      if (depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return out;
}
