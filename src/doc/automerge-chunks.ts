/**
 * Splits concatenated Automerge chunks (what saveSince/getLastLocalChange
 * produce and loadIncremental reads) into single chunks without calling into
 * wasm. A chunk is: magic 85 6f 4a 83, a 4-byte checksum, a type byte
 * (0 document, 1 change, 2 deflated change) and a LEB128 length.
 */
import { ByteReader, malformed } from "./byte-reader.ts";
import { invalidUpdate } from "./engine-errors.ts";

const magic = [0x85, 0x6f, 0x4a, 0x83] as const;
const changeChunk = 1;

/**
 * The change chunks of `bytes`, as views. Throws ConcordError("invalid_update"):
 * "malformed" for broken framing, "unsupported_content" for document chunks
 * and deflated changes (Concord's engines never send them, and a deflated
 * change's inflated size is unbounded).
 */
export function splitChangeChunks(bytes: Uint8Array): Uint8Array[] {
  const reader = new ByteReader(bytes);
  const chunks: Uint8Array[] = [];
  while (reader.remaining > 0) {
    const start = reader.pos;
    const head = reader.take(4);
    if (head[0] !== magic[0] || head[1] !== magic[1] || head[2] !== magic[2] || head[3] !== magic[3]) {
      malformed("not an Automerge chunk");
    }
    reader.take(4); // checksum: Automerge verifies it when decoding
    const type = reader.u8();
    const length = reader.varUint();
    reader.take(length);
    if (type !== changeChunk) {
      throw invalidUpdate("unsupported_content", `Automerge chunk type ${type} is not accepted in a delta`);
    }
    chunks.push(bytes.subarray(start, reader.pos));
  }
  return chunks;
}
