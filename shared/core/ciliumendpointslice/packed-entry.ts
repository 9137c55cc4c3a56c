/**
 * How a CiliumEndpointSlice holds its entries between writes. The Cilium shape costs four objects
 * per pod (entry, networking, addressing array, address pair); the usual entry, one address pair,
 * is kept as one flat object instead, pointing at strings and a port list the pod record already
 * holds. Anything else (several pairs, a pair with other keys or IPv6 listed first, as storage may
 * hand back) is kept as given. Either way the slice hands out what copyCoreEndpoint would have
 * made of the original.
 */
import type { ContainerNamedPort, CoreCiliumEndpoint } from "#shared/core/model.ts";
import { copyCoreEndpoint, coreEndpointsEqual } from "./core-endpoint.ts";

class PackedEntry {
  readonly name: string;
  readonly id: number;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly node: string | undefined;
  readonly namedPorts: ContainerNamedPort[] | undefined;

  constructor(entry: CoreCiliumEndpoint, ipv4: string | undefined, ipv6: string | undefined) {
    this.name = entry.name;
    this.id = entry.id;
    this.ipv4 = ipv4;
    this.ipv6 = ipv6;
    this.node = entry.networking.node;
    this.namedPorts = entry["named-ports"];
  }
}

export type StoredEntry = PackedEntry | CoreCiliumEndpoint;

export function packEntry(entry: CoreCiliumEndpoint): StoredEntry {
  const pairs = entry.networking.addressing;
  if (pairs.length !== 1) return entry;
  const pair = pairs[0] as { ipv4?: unknown; ipv6?: unknown };
  const keys = Object.keys(pair);
  const { ipv4, ipv6 } = pair;
  // {...pair} in copyCoreEndpoint keeps the pair's key order: only the orders rebuilt below pack.
  const packable =
    keys.length === 1
      ? (keys[0] === "ipv4" && typeof ipv4 === "string") || (keys[0] === "ipv6" && typeof ipv6 === "string")
      : keys.length === 2 &&
        keys[0] === "ipv4" &&
        keys[1] === "ipv6" &&
        typeof ipv4 === "string" &&
        typeof ipv6 === "string";
  if (!packable) return entry;
  return new PackedEntry(entry, ipv4 as string | undefined, ipv6 as string | undefined);
}

/** A fresh object the caller owns, equal to copyCoreEndpoint of the entry that was packed. */
export function unpackEntry(stored: StoredEntry): CoreCiliumEndpoint {
  if (!(stored instanceof PackedEntry)) return copyCoreEndpoint(stored);
  return copyCoreEndpoint(view(stored));
}

export function storedEntryEquals(stored: StoredEntry, entry: CoreCiliumEndpoint): boolean {
  return coreEndpointsEqual(stored instanceof PackedEntry ? view(stored) : stored, entry);
}

/** The Cilium shape of a packed entry, sharing its strings and port list (not for handing out). */
function view(packed: PackedEntry): CoreCiliumEndpoint {
  const pair: { ipv4?: string; ipv6?: string } =
    packed.ipv6 === undefined
      ? { ipv4: packed.ipv4 as string }
      : packed.ipv4 === undefined
        ? { ipv6: packed.ipv6 }
        : { ipv4: packed.ipv4, ipv6: packed.ipv6 };
  const endpoint: CoreCiliumEndpoint = {
    name: packed.name,
    id: packed.id,
    networking: { addressing: [pair] },
  };
  if (packed.node !== undefined) endpoint.networking.node = packed.node;
  if (packed.namedPorts !== undefined) endpoint["named-ports"] = packed.namedPorts;
  return endpoint;
}
