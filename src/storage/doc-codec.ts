/**
 * Plaintext framing of stored payloads, applied before sealing: a format byte
 * then either the raw bytes or their deflate. Compression always happens
 * before encryption (ciphertext does not compress), and only where it pays.
 */
import { deflateSync, inflateSync } from "fflate";
import { ConcordError } from "../errors.ts";

const raw = 0x00;
const deflated = 0x01;
/** Below this size deflate rarely wins and costs more than it saves. */
const compressMinBytes = 96;

export function encodePayload(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= compressMinBytes) {
    const packed = deflateSync(bytes, { level: 6 });
    if (packed.length + 1 < bytes.length) return framed(deflated, packed);
  }
  return framed(raw, bytes);
}

export function decodePayload(framedBytes: Uint8Array, what: string): Uint8Array {
  const body = framedBytes.subarray(1);
  if (framedBytes[0] === raw) return body;
  if (framedBytes[0] === deflated) {
    try {
      return inflateSync(body);
    } catch (cause) {
      throw new ConcordError("corrupt_record", `${what} does not decompress`, { cause });
    }
  }
  throw new ConcordError("corrupt_record", `${what} has an unknown payload format ${framedBytes[0]}`);
}

function framed(format: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = format;
  out.set(body, 1);
  return out;
}
