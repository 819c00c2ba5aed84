/**
 * A document's sealed metadata record (M): its id, kind and the head of its
 * record chain (see record-chain.ts). Rewritten in the same atomic batch as
 * every append and compaction, so it always names the last record on disk.
 * See doc-store-layout.ts for where it lives.
 */
import { recordAad } from "../crypto/aad.ts";
import { open, seal } from "../crypto/seal.ts";
import type { DocKind } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { fromHex, toHex } from "./bytes.ts";
import { recordHashBytes, type ChainHead } from "./record-chain.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface DocMeta {
  id: string;
  kind: DocKind;
  chain: ChainHead;
}

export function sealMeta(dataKey: Uint8Array, docHash: Uint8Array, meta: DocMeta, random: Random): Uint8Array {
  const { chain } = meta;
  const plain = encoder.encode(JSON.stringify({
    id: meta.id,
    kind: meta.kind,
    snapshotSeq: chain.snapshotSeq,
    snapshotHash: toHex(chain.snapshotHash),
    headSeq: chain.headSeq,
    headHash: toHex(chain.headHash),
  }));
  return seal(dataKey, plain, recordAad("meta", docHash), random);
}

const malformed = (cause?: unknown) => new ConcordError("corrupt_record", "document metadata is malformed", cause === undefined ? {} : { cause });
const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function hashField(v: unknown): Uint8Array {
  if (typeof v !== "string" || v.length !== 2 * recordHashBytes) throw malformed();
  try {
    return fromHex(v);
  } catch (cause) {
    throw isConcordError(cause) ? malformed(cause) : cause;
  }
}

/** Throws ConcordError("corrupt_record") when the record does not open or is malformed. */
export function openMeta(dataKey: Uint8Array, docHash: Uint8Array, sealed: Uint8Array): DocMeta {
  const plain = open(dataKey, sealed, recordAad("meta", docHash), "document metadata");
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(decoder.decode(plain));
  } catch (cause) {
    throw malformed(cause);
  }
  if (
    typeof meta?.id !== "string" || (meta.kind !== "yjs" && meta.kind !== "automerge") ||
    !isSeq(meta.snapshotSeq) || !isSeq(meta.headSeq) || meta.headSeq < meta.snapshotSeq
  ) {
    throw malformed();
  }
  return {
    id: meta.id,
    kind: meta.kind,
    chain: { snapshotSeq: meta.snapshotSeq, snapshotHash: hashField(meta.snapshotHash), headSeq: meta.headSeq, headHash: hashField(meta.headHash) },
  };
}
