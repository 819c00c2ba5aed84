/**
 * Versions travel as base64url strings. A write's version doubles as its
 * read-your-writes token: any region that holds everything of that version can
 * serve a read "after" it.
 */
import { keyedHash } from "../crypto/keyed-hash.ts";
import { sodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";

export function encodeVersion(version: Uint8Array): string {
  return sodium().to_base64(version, sodium().base64_variants.URLSAFE_NO_PADDING);
}

export function decodeVersion(version: string): Uint8Array {
  try {
    return sodium().from_base64(version, sodium().base64_variants.URLSAFE_NO_PADDING);
  } catch (cause) {
    throw new ConcordError("invalid_argument", "a version or token is a base64url string from a read or an ack", { cause });
  }
}

/** A version's 16-byte digest: what anti-entropy compares and the store records per document. */
export function versionHash(version: Uint8Array): Uint8Array {
  return keyedHash(null, version, 16);
}

/** The digest standing for a shredded document, in every region alike. */
export function deletedVersionHash(): Uint8Array {
  return keyedHash(null, "concord/deleted", 16);
}

/** A digest no version has: stands for a document whose version cannot be read here. */
export function unknownVersionHash(): Uint8Array {
  return keyedHash(null, "concord/unknown", 16);
}
