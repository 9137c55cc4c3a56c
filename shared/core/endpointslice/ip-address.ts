/**
 * IP parsing the way the EndpointSlice controller does it (k8s.io/utils/net ParseIPSloppy + String).
 *
 * Addresses are part of an endpoint's identity, so "2001:DB8::1" and "2001:db8::1" must not become
 * two endpoints: every address is re-serialized in its canonical form before it is compared or stored.
 */
import { isIPv6 } from "node:net";
import type { AddressType } from "#shared/core/model.ts";

export interface ParsedAddress {
  readonly family: AddressType;
  /** Canonical text: dotted decimal without leading zeros, or RFC 5952 IPv6. */
  readonly address: string;
}

const IPV4_MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** undefined for anything that is not an IP address (a malformed status must not produce an endpoint). */
export function parseAddress(text: string): ParsedAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: "IPv4", address: v4 };
  // Go treats an IPv4-mapped IPv6 address as IPv4 (ip.To4() != nil), so the controller does too.
  const mapped = IPV4_MAPPED.exec(text);
  if (mapped?.[1] !== undefined) {
    const inner = parseIPv4(mapped[1]);
    if (inner !== undefined) return { family: "IPv4", address: inner };
  }
  if (!isIPv6(text) || text.includes("%")) return undefined;
  return { family: "IPv6", address: canonicalIPv6(text) };
}

/** The family of a Service clusterIP, as getAddressTypesForService reads it (IPv4 unless it parses as IPv6). */
export function clusterIPFamily(clusterIP: string): AddressType {
  return parseAddress(clusterIP)?.family === "IPv6" ? "IPv6" : "IPv4";
}

/**
 * ParseIPSloppy accepts leading zeros and reads them as decimal, unlike Node's strict isIPv4.
 * Hand-rolled: it runs for every IP of every changed pod.
 */
function parseIPv4(text: string): string | undefined {
  let octets = 0;
  let value = 0;
  let digits = 0;
  let canonical = true;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      if (digits === 3) return undefined;
      if (digits > 0 && value === 0) canonical = false;
      value = value * 10 + (code - 48);
      digits++;
    } else if (code === 46) {
      if (digits === 0 || value > 255 || octets === 3) return undefined;
      octets++;
      value = 0;
      digits = 0;
    } else return undefined;
  }
  if (digits === 0 || value > 255 || octets !== 3) return undefined;
  if (canonical) return text;
  return text
    .split(".")
    .map((part) => String(Number.parseInt(part, 10)))
    .join(".");
}

/** The WHATWG URL serializer compresses and lower-cases exactly as RFC 5952 (and Go) do. */
function canonicalIPv6(text: string): string {
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return text.toLowerCase();
  }
}
