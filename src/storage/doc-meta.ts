/**
 * A document's sealed metadata record (M): its id, kind and the sequence its
 * snapshot covers. See doc-store-layout.ts for where it lives.
 */
import { recordAad } from "../crypto/aad.ts";
import { open, seal } from "../crypto/seal.ts";
import type { DocKind } from "../doc/engine.ts";
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface DocMeta {
  id: string;
  kind: DocKind;
  /**
   * The sequence the current snapshot covers (0: none). Rewritten in the same
   * atomic batch as every compaction, so an older snapshot written back over
   * the current one (its own AAD still matches) is caught: the snapshot's
   * sequence must equal this one. Undefined only in metadata written before
   * the field existed; such a document is not checked until its next compaction.
   */
  snapshotSeq: number | undefined;
}

export function sealMeta(dataKey: Uint8Array, docHash: Uint8Array, meta: DocMeta & { snapshotSeq: number }, random: Random): Uint8Array {
  const plain = encoder.encode(JSON.stringify({ id: meta.id, kind: meta.kind, snapshotSeq: meta.snapshotSeq }));
  return seal(dataKey, plain, recordAad("meta", docHash), random);
}

/** Throws ConcordError("corrupt_record") when the record does not open or is malformed. */
export function openMeta(dataKey: Uint8Array, docHash: Uint8Array, sealed: Uint8Array): DocMeta {
  const plain = open(dataKey, sealed, recordAad("meta", docHash), "document metadata");
  let meta: { id?: unknown; kind?: unknown; snapshotSeq?: unknown };
  try {
    meta = JSON.parse(decoder.decode(plain));
  } catch (cause) {
    throw new ConcordError("corrupt_record", "document metadata is malformed", { cause });
  }
  const seq = meta?.snapshotSeq;
  if (
    typeof meta?.id !== "string" || (meta.kind !== "yjs" && meta.kind !== "automerge") ||
    (seq !== undefined && (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0))
  ) {
    throw new ConcordError("corrupt_record", "document metadata is malformed");
  }
  return { id: meta.id, kind: meta.kind, snapshotSeq: seq };
}
