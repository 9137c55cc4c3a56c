/**
 * A slices-table stream record (images already unmarshalled) as an object change.
 * Items carry the object's JSON text (compressed: stored-object.ts), so the stream hands over
 * exactly what the API serves.
 */
import { OUTPUT_KINDS, type OutputKind, type OutputObject } from "#shared/core/output-changes.ts";
import type { ObjectChange } from "./change-routing.ts";
import { readStoredObject, rememberCompressedForm, StoredObjectError } from "./stored-object.ts";

export interface SliceItemImage {
  readonly kind?: unknown;
  /** The object's JSON, Brotli-compressed (B). */
  readonly objectBr?: unknown;
  /** The object's JSON text, on items written before compression. */
  readonly object?: unknown;
  readonly sourceTimeMs?: unknown;
}

export class MalformedStreamRecordError extends Error {
  override name = "MalformedStreamRecordError";
}

export function objectChangeFromImages(
  oldImage: SliceItemImage | undefined,
  newImage: SliceItemImage | undefined,
): ObjectChange {
  const image = newImage ?? oldImage;
  if (image === undefined) throw new MalformedStreamRecordError("stream record has neither image");
  const kind = image.kind;
  if (typeof kind !== "string" || !(OUTPUT_KINDS as readonly string[]).includes(kind)) {
    throw new MalformedStreamRecordError(`stream record of unknown kind ${JSON.stringify(kind)}`);
  }
  const sourceTimeMs = Number(newImage?.sourceTimeMs ?? oldImage?.sourceTimeMs);
  return {
    kind: kind as OutputKind,
    before: objectOf(oldImage, kind as OutputKind),
    after: objectOf(newImage, kind as OutputKind),
    sourceTimeMs: Number.isFinite(sourceTimeMs) ? sourceTimeMs : Date.now(),
  };
}

/**
 * The image's object, checked as far as routing and diffing read it (a name, a version, a slice's
 * item list), so a bad item fails as its own record instead of in the middle of a bundle.
 */
function objectOf(image: SliceItemImage | undefined, kind: OutputKind): OutputObject | undefined {
  if (image === undefined) return undefined;
  let stored: ReturnType<typeof readStoredObject>;
  try {
    stored = readStoredObject(image as Record<string, unknown>);
  } catch (error) {
    if (!(error instanceof StoredObjectError)) throw error;
    throw new MalformedStreamRecordError(`stream image without object JSON: ${error.message}`);
  }
  let object: Partial<OutputObject> & { endpoints?: unknown };
  try {
    object = JSON.parse(stored.json) as typeof object;
  } catch {
    throw new MalformedStreamRecordError("stream image object is not JSON");
  }
  if (object?.kind !== kind || typeof object.metadata?.name !== "string")
    throw new MalformedStreamRecordError(`stream image is not a named ${kind}`);
  if (kind !== "CiliumIdentity" && !Array.isArray(object.endpoints))
    throw new MalformedStreamRecordError(
      `stream image of ${kind} ${object.metadata.name} has no endpoints list`,
    );
  if (stored.compressed !== undefined) rememberCompressedForm(object, stored.compressed);
  return object as OutputObject;
}
