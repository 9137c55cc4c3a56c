/**
 * How an output object is stored in a DynamoDB item (the slices table, the watch change log):
 * its Kubernetes JSON, Brotli-compressed, in a binary attribute `objectBr`. Slice JSON is
 * repetitive (the same keys, condition flags, node and zone names in every endpoint): a
 * 100-endpoint EndpointSlice of ~28 KB stores in ~4.3 KB, and DynamoDB bills writes per KB of
 * item, once for the table and once for every index that copies it. Quality 5 compresses such a
 * slice in about half a millisecond; the top qualities save a further 10% for 50 times the CPU.
 *
 * Items written before compression carry the JSON text in `object` (S); reads accept either, so
 * a table upgrades item by item as objects are rewritten (docs/aws.md).
 */
import { brotliCompressSync, brotliDecompressSync, constants } from "node:zlib";

export const COMPRESSED_OBJECT_ATTRIBUTE = "objectBr";
/** The attribute of items written before compression: the JSON text. */
export const PLAIN_OBJECT_ATTRIBUTE = "object";

export class StoredObjectError extends Error {
  override name = "StoredObjectError";
}

/** The compressed form of an object's JSON text. */
export function compressObjectJson(json: string): Uint8Array {
  const compressed = brotliCompressSync(json, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 5,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: Buffer.byteLength(json),
    },
  });
  // A plain Uint8Array, not a Buffer: a Buffer serializes to JSON as a list of numbers.
  return new Uint8Array(compressed.buffer, compressed.byteOffset, compressed.byteLength);
}

/**
 * The compressed form each object was read from, when it was: the fan-out parses every stream
 * image and then appends the same object to the change log, which would otherwise compress again
 * what it has just decompressed. Objects read from storage are not changed afterwards (the
 * fan-out only reads them), and JSON.stringify of a parsed object gives back the text it came from.
 */
const compressedForms = new WeakMap<object, Uint8Array>();

/** Records that `object` is the parse of `compressed`'s JSON. */
export function rememberCompressedForm(object: object, compressed: Uint8Array): void {
  compressedForms.set(object, compressed);
}

/** The object's compressed JSON: the form it was read from, if known, else compressed now. */
export function compressedObject(object: object): Uint8Array {
  return compressedForms.get(object) ?? compressObjectJson(JSON.stringify(object));
}

/** The compressed bytes an item stores, if it stores them (bytes from the SDK, base64 from a stream event). */
function storedCompressedBytes(item: Readonly<Record<string, unknown>>): Uint8Array | undefined {
  const value = item[COMPRESSED_OBJECT_ATTRIBUTE];
  const compressed = typeof value === "string" ? Buffer.from(value, "base64") : value;
  return compressed instanceof Uint8Array ? compressed : undefined;
}

/**
 * The JSON text an item stores, from `objectBr` or, on an item written before compression,
 * `object`. `objectBr` comes as bytes from the SDK and as base64 text from a Lambda stream event
 * (its JSON carries binary values so; unmarshall leaves them as they are).
 */
export function storedObjectJson(item: Readonly<Record<string, unknown>>): string {
  return readStoredObject(item).json;
}

/** The JSON text an item stores, with the compressed bytes it was read from (none on a plain item). */
export function readStoredObject(item: Readonly<Record<string, unknown>>): {
  json: string;
  compressed: Uint8Array | undefined;
} {
  const compressed = storedCompressedBytes(item);
  if (compressed !== undefined) {
    try {
      return { json: brotliDecompressSync(compressed).toString("utf8"), compressed };
    } catch {
      throw new StoredObjectError(`${COMPRESSED_OBJECT_ATTRIBUTE} is not Brotli-compressed`);
    }
  }
  const plain = item[PLAIN_OBJECT_ATTRIBUTE];
  if (typeof plain === "string") return { json: plain, compressed: undefined };
  throw new StoredObjectError(
    `item has neither ${COMPRESSED_OBJECT_ATTRIBUTE} nor ${PLAIN_OBJECT_ATTRIBUTE}`,
  );
}
