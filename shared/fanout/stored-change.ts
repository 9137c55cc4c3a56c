/**
 * A slices-table stream record (images already unmarshalled) as an object change.
 * Items carry the object as JSON text, so the stream hands over exactly what the API serves.
 */
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import type { ObjectChange } from "./change-routing.ts";

export interface SliceItemImage {
  readonly kind?: unknown;
  readonly object?: unknown;
  readonly sourceTimeMs?: unknown;
}

const OUTPUT_KINDS: readonly OutputKind[] = ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"];

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
    before: objectOf(oldImage),
    after: objectOf(newImage),
    sourceTimeMs: Number.isFinite(sourceTimeMs) ? sourceTimeMs : Date.now(),
  };
}

function objectOf(image: SliceItemImage | undefined): OutputObject | undefined {
  if (image === undefined) return undefined;
  if (typeof image.object !== "string")
    throw new MalformedStreamRecordError("stream image without object JSON");
  return JSON.parse(image.object) as OutputObject;
}
