/**
 * Deterministic EndpointSlice names. Kubernetes uses generateName `<service>-` plus five random
 * characters; sliceline names must be reproducible (the same trace gives the same objects) and
 * must not collide with a name already stored, including after a rebuild from storage. The
 * suffix is a number from the namespace group's counter (slice-name-counter.ts: why names are
 * never reused), in base 36.
 */
import { SliceNameCounter } from "#shared/core/slice-name-counter.ts";

const MAX_NAME_LENGTH = 63;
/** Room kept for the suffix: five base-36 digits cover 60 million slices, seven cover 78 billion. */
const SUFFIX_ROOM = 7;
const MIN_SUFFIX_DIGITS = 5;
const SUFFIX = /^[0-9a-z]+$/;

/**
 * `<service>-`, or for a name too long to leave room for the suffix a truncated name plus a hash
 * of the whole name, so two long Services sharing a prefix still get distinct slice names.
 */
export function sliceNamePrefix(serviceName: string): string {
  const plain = `${serviceName}-`;
  if (plain.length <= MAX_NAME_LENGTH - SUFFIX_ROOM) return plain;
  const hash = fnv1a32(serviceName).toString(36).padStart(7, "0");
  const kept = MAX_NAME_LENGTH - SUFFIX_ROOM - hash.length - 2;
  return `${serviceName.slice(0, kept).replace(/-+$/, "")}-${hash}-`;
}

export interface TakenNames {
  has(name: string): boolean;
  keys(): Iterable<string>;
}

export class SliceNamer {
  readonly #prefix: string;
  readonly #taken: TakenNames;
  readonly #counter: SliceNameCounter;

  /**
   * `taken` is live (a Map of the slices, say): names added or removed later are seen by next().
   * `counter` is the namespace group's, shared by its Services; the numbers of the taken names are
   * reserved in it.
   */
  constructor(serviceName: string, taken: TakenNames, counter = new SliceNameCounter()) {
    this.#prefix = sliceNamePrefix(serviceName);
    this.#taken = taken;
    this.#counter = counter;
    counter.reserve(highestCounter(this.#prefix, taken.keys()));
  }

  next(): string {
    for (;;) {
      const name = `${this.#prefix}${this.#counter.take().toString(36).padStart(MIN_SUFFIX_DIGITS, "0")}`;
      if (!this.#taken.has(name)) return name;
    }
  }
}

function highestCounter(prefix: string, names: Iterable<string>): number {
  let highest = 0;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const suffix = name.slice(prefix.length);
    // A longer suffix was not ours; continuing after it could push names past 63 characters.
    if (suffix.length > SUFFIX_ROOM || !SUFFIX.test(suffix)) continue;
    const value = Number.parseInt(suffix, 36);
    if (Number.isSafeInteger(value) && value > highest) highest = value;
  }
  return highest;
}

function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
