/**
 * What a document id may be: any non-empty text up to 512 UTF-8 bytes, without control characters.
 *
 * Conflict ids. When one id was created with two kinds in two regions, the
 * losing kind's content is kept under `${id}~${kind}-conflict` (see
 * remote-apply.ts). Such an id is derived from the id and the kind alone, so
 * every region picks the same one and the copies merge by ordinary
 * replication. The suffixes are reserved: create() refuses them, so a conflict
 * id never names a client's own document, and a conflict document only ever
 * holds the kind its name says. A conflict id may exceed 512 bytes by its
 * suffix: the limit applies to the id it was derived from.
 */
import type { DocKind } from "../doc/engine.ts";
import { docKinds } from "../doc/engine.ts";
import { ConcordError } from "../errors.ts";
import { isSystemId, systemIdPrefix } from "../query/index-catalog.ts";

export const maxDocIdBytes = 512;
const encoder = new TextEncoder();

const conflictSuffix = (kind: DocKind) => `~${kind}-conflict`;

/** Where the content of `id`'s losing `kind` copy is kept after a kind conflict. */
export function conflictDocId(id: string, kind: DocKind): string {
  return id + conflictSuffix(kind);
}

/** The id whose conflict document `id` is; undefined for an ordinary id. */
export function conflictBaseId(id: string): string | undefined {
  const kind = conflictKind(id);
  return kind === undefined ? undefined : id.slice(0, id.length - conflictSuffix(kind).length);
}

/** The kind a conflict id holds; undefined for an ordinary id. */
export function conflictKind(id: string): DocKind | undefined {
  return docKinds.find((kind) => id.endsWith(conflictSuffix(kind)) && id.length > conflictSuffix(kind).length);
}

export function checkDocId(id: unknown): asserts id is string {
  if (typeof id !== "string" || id.length === 0) {
    throw new ConcordError("invalid_argument", "a document id is a non-empty string");
  }
  const kind = conflictKind(id);
  const suffixBytes = kind === undefined ? 0 : conflictSuffix(kind).length; // ASCII
  if (encoder.encode(id).length > maxDocIdBytes + suffixBytes) {
    throw new ConcordError("invalid_argument", `a document id is at most ${maxDocIdBytes} bytes of UTF-8`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) {
    throw new ConcordError("invalid_argument", "a document id contains no control characters");
  }
}

/** checkDocId, and not a reserved conflict or system id: what a client may create. */
export function checkNewDocId(id: unknown): asserts id is string {
  checkDocId(id);
  if (isSystemId(id)) {
    throw new ConcordError("invalid_argument", `ids starting with "${systemIdPrefix}" are reserved for the store's own documents`, {
      details: { reason: "reserved_id" },
    });
  }
  const kind = conflictKind(id);
  if (kind !== undefined) {
    throw new ConcordError("invalid_argument", `ids ending in "${conflictSuffix(kind)}" are reserved for kind conflicts`, {
      details: { reason: "reserved_id" },
    });
  }
}
