/**
 * Server-side printing (meta.k8s.io Table), as kubectl asks for it with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Columns are the apiserver's own: the
 * EndpointSlice printer (NAME, ADDRESSTYPE, PORTS, ENDPOINTS, AGE) and, for the Cilium CRDs, the
 * apiextensions default of Name plus their additionalPrinterColumns (CiliumIdentity: Namespace,
 * Age; CiliumEndpointSlice: Age). Columns with priority 1 appear only with `-o wide`.
 */
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice, ObjectMeta } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";

export interface TableColumnDefinition {
  readonly name: string;
  readonly type: "string" | "integer" | "date";
  readonly format: string;
  readonly description: string;
  readonly priority: number;
}

export interface TableRow {
  readonly cells: ReadonlyArray<string | number | null>;
  readonly object?: unknown;
}

export interface Table {
  readonly kind: "Table";
  readonly apiVersion: "meta.k8s.io/v1" | "meta.k8s.io/v1beta1";
  readonly metadata: { resourceVersion: string; continue?: string };
  readonly columnDefinitions: readonly TableColumnDefinition[];
  readonly rows: readonly TableRow[];
}

/** What each row carries besides its cells (the `includeObject` parameter). */
export type IncludeObject = "None" | "Object" | "Metadata";

interface Column<T> {
  readonly definition: TableColumnDefinition;
  cell(object: T, nowMs: number): string | number | null;
}

function column<T>(
  name: string,
  description: string,
  cell: (object: T, nowMs: number) => string | number | null,
  options: { type?: TableColumnDefinition["type"]; format?: string; priority?: number } = {},
): Column<T> {
  return {
    definition: {
      name,
      type: options.type ?? "string",
      format: options.format ?? "",
      description,
      priority: options.priority ?? 0,
    },
    cell,
  };
}

const NAME_DESCRIPTION =
  "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.";
const AGE_DESCRIPTION =
  "CreationTimestamp is a timestamp representing the server time when this object was created.";

const nameColumn = column<OutputObject>("Name", NAME_DESCRIPTION, (o) => o.metadata.name, { format: "name" });
const ageColumn = column<OutputObject>("Age", AGE_DESCRIPTION, (o, now) => age(o.metadata, now));

const COLUMNS: { [K in OutputKind]: ReadonlyArray<Column<Extract<OutputObject, { kind: K }>>> } = {
  EndpointSlice: [
    nameColumn,
    column<EndpointSlice>(
      "AddressType",
      "addressType specifies the type of address carried by this EndpointSlice.",
      (o) => o.addressType,
    ),
    column<EndpointSlice>(
      "Ports",
      "ports specifies the list of network ports exposed by each endpoint.",
      (o) => listWithMore(o.ports.map((p) => String(p.port))),
    ),
    column<EndpointSlice>("Endpoints", "endpoints is a list of unique endpoints in this slice.", (o) =>
      listWithMore(o.endpoints.flatMap((e) => e.addresses)),
    ),
    ageColumn,
  ],
  CiliumEndpointSlice: [
    nameColumn,
    ageColumn,
    column<CiliumEndpointSlice>(
      "Namespace",
      "The namespace of the endpoints in this slice",
      (o) => o.namespace,
      {
        priority: 1,
      },
    ),
    column<CiliumEndpointSlice>("Endpoints", "Number of endpoints in this slice", (o) => o.endpoints.length, {
      type: "integer",
      priority: 1,
    }),
  ],
  CiliumIdentity: [
    nameColumn,
    column<CiliumIdentity>(
      "Namespace",
      "The namespace of the entity",
      (o) => o.metadata.labels["io.kubernetes.pod.namespace"] ?? null,
    ),
    column<CiliumIdentity>("Age", "The age of the identity", (o, now) => age(o.metadata, now), {
      type: "date",
    }),
  ],
};

export function renderTable(
  kind: OutputKind,
  objects: readonly OutputObject[],
  listMeta: { resourceVersion: string; continue?: string | undefined },
  options: { nowMs: number; includeObject: IncludeObject; apiVersion?: Table["apiVersion"] },
): Table {
  const columns = COLUMNS[kind] as ReadonlyArray<Column<OutputObject>>;
  return {
    kind: "Table",
    apiVersion: options.apiVersion ?? "meta.k8s.io/v1",
    metadata:
      listMeta.continue === undefined
        ? { resourceVersion: listMeta.resourceVersion }
        : { resourceVersion: listMeta.resourceVersion, continue: listMeta.continue },
    columnDefinitions: columns.map((c) => c.definition),
    rows: objects.map((object) => {
      const cells = columns.map((c) => c.cell(object, options.nowMs));
      if (options.includeObject === "None") return { cells };
      if (options.includeObject === "Object") return { cells, object };
      return {
        cells,
        object: {
          kind: "PartialObjectMetadata",
          apiVersion: options.apiVersion ?? "meta.k8s.io/v1",
          metadata: object.metadata,
        },
      };
    }),
  };
}

/** Up to three entries joined by ",", then " + N more..."; "<unset>" when empty (the apiserver's printer). */
export function listWithMore(entries: readonly string[], max = 3): string {
  const shown = entries.slice(0, max).join(",");
  if (entries.length > max) return `${shown} + ${entries.length - max} more...`;
  return shown === "" ? "<unset>" : shown;
}

function age(metadata: ObjectMeta, nowMs: number): string {
  const created =
    metadata.creationTimestamp === undefined ? Number.NaN : Date.parse(metadata.creationTimestamp);
  if (Number.isNaN(created)) return "<unknown>";
  return humanDuration(nowMs - created);
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration: "45s", "3m12s", "5h", "3d4h", "2y10d". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.trunc(hours / 24) % 365;
    const years = Math.trunc(hours / 24 / 365);
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}
