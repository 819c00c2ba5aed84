/**
 * Authenticated encryption of one record: XChaCha20-Poly1305-IETF with a random
 * 24-byte nonce. The associated data binds the record to its place (document,
 * record kind, sequence), so a sealed value copied anywhere else fails to open.
 *
 * Layout: [format 0x01][nonce 24][ciphertext + 16-byte tag].
 */
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { sodium } from "./sodium.ts";

const sealFormatV1 = 0x01;
const nonceBytes = 24;
const tagBytes = 16;
export const keyBytes = 32;
/** Bytes a sealed value adds to its plaintext. */
export const sealOverheadBytes = 1 + nonceBytes + tagBytes;

export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, random: Random): Uint8Array {
  const nonce = random.bytes(nonceBytes);
  const ciphertext = sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key);
  const out = new Uint8Array(1 + nonceBytes + ciphertext.length);
  out[0] = sealFormatV1;
  out.set(nonce, 1);
  out.set(ciphertext, 1 + nonceBytes);
  return out;
}

/**
 * Opens a sealed value. Throws ConcordError("corrupt_record") when the bytes
 * were altered, sealed under another key, or bound to another place.
 */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array, what = "record"): Uint8Array {
  if (sealed.length < sealOverheadBytes || sealed[0] !== sealFormatV1) {
    throw new ConcordError("corrupt_record", `${what} is truncated or of an unknown format`);
  }
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      sealed.subarray(1 + nonceBytes),
      aad,
      sealed.subarray(1, 1 + nonceBytes),
      key,
    );
  } catch (cause) {
    throw new ConcordError("corrupt_record", `${what} failed authentication (altered, moved, or sealed under another key)`, {
      cause,
    });
  }
}
