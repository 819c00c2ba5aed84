/**
 * Compression of a frame's message (protocol version 3), before it is sealed:
 * ciphertext does not compress. A far-behind peer's catch-up is whole
 * document states, mostly text and repeated client ids, which deflate well;
 * a single keystroke's push does not, and is sent as it is.
 *
 *   compressed message = encoding u8 · (message | inflated length u32 · raw deflate)
 *
 * Inflating is bounded: the declared length is checked against the limit
 * before any allocation, and the output buffer has exactly that room, so
 * bytes that inflate past their declared length are an error, never a
 * bigger allocation. A frame's bytes are authenticated before this runs, so
 * only a peer holding the pair key could send a bomb; the bound holds anyway.
 *
 * What compression reveals: the length of a sealed frame now depends on how
 * well its content compresses. Someone who can both write into documents and
 * watch the encrypted traffic between two regions could, in principle, probe
 * other content in the same frame (as CRIME did with TLS). Gossip options
 * `compressFrames: false` turns it off for deployments that worry about that.
 */
import { deflateSync, inflateSync } from "fflate";
import { frameError } from "./frame.ts";

const plain = 0;
const deflated = 1;
/** Below this, deflate rarely pays for its CPU and header. */
export const compressMinBytes = 1024;

export function compressMessage(message: Uint8Array, compress: boolean): Uint8Array {
  if (compress && message.length >= compressMinBytes) {
    const packed = deflateSync(message, { level: 6 });
    if (packed.length + 5 < message.length) {
      const out = new Uint8Array(5 + packed.length);
      out[0] = deflated;
      new DataView(out.buffer).setUint32(1, message.length);
      out.set(packed, 5);
      return out;
    }
  }
  const out = new Uint8Array(1 + message.length);
  out[0] = plain;
  out.set(message, 1);
  return out;
}

/** The message inside; bad_frame ("unexpected") on an unknown encoding, a lie about its length, or past `maxBytes`. */
export function decompressMessage(bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (bytes.length < 1) throw frameError("truncated", "a frame body has no message encoding");
  if (bytes[0] === plain) return bytes.subarray(1);
  if (bytes[0] !== deflated) throw frameError("unexpected", `unknown message encoding ${bytes[0]}`);
  if (bytes.length < 5) throw frameError("truncated", "a compressed message is cut short");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(1);
  if (length > maxBytes) throw frameError("oversized", `a message inflating to ${length} bytes is over the ${maxBytes}-byte limit`);
  // One spare byte: output that fills it ran past the declared length.
  const out = new Uint8Array(length + 1);
  let inflated: Uint8Array;
  try {
    inflated = inflateSync(bytes.subarray(5), { out });
  } catch {
    throw frameError("unexpected", "a compressed message does not inflate");
  }
  if (inflated.length !== length) throw frameError("unexpected", `a compressed message inflates to other than its declared ${length} bytes`);
  return inflated;
}
