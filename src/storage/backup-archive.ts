/**
 * The backup archive: a store snapshot as a byte stream, still sealed. It
 * copies the stored keys and values verbatim (keyed hashes and sealed
 * records), so an archive holds no plaintext and opens only with the region's
 * master key, like the data directory it came from.
 *
 *   magic "CCBACKUP" · format u8 (1) · 3 zero bytes
 *   header: u32 length · JSON { region, createdAt, masterKeyId, entries }
 *   region key: u32 length · the region's X25519 secret sealed under the master key (length 0: none)
 *   entries: (u32 key length ≥ 1 · key · u32 value length · value) × entries
 *   end: u32 0 · u64 entry count
 *   checksum: BLAKE2b-256 of everything above          (damage: corrupt_record)
 *   mac: BLAKE2b-256 keyed from the master key, same input  (another key or tampering: wrong_key)
 *
 * The checksum tells a damaged file from one made under another master key,
 * and can be checked without any key (`verifyOnly`). The mac makes a
 * truncated-and-rehashed or spliced archive fail: only the master key's
 * holder can produce one.
 */
import { recordAad } from "../crypto/aad.ts";
import { deriveKey } from "../crypto/keyed-hash.ts";
import { sodium } from "../crypto/sodium.ts";

export const magic = new TextEncoder().encode("CCBACKUP");
export const formatVersion = 1;
export const hashBytes = 32;
/** Output chunks are at least this big (except the last): few syscalls, bounded memory. */
export const chunkBytes = 256 << 10;
/** A longer header or value means a damaged length field, not a real archive. */
export const maxHeaderBytes = 64 << 10;
export const maxValueBytes = 1 << 30;

export interface BackupHeader {
  /** The region the snapshot was taken from. */
  region: string;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
  /** Hex id of the master key the archive is sealed under (safe in the clear). */
  masterKeyId: string;
  /** Number of store entries. */
  entries: number;
}

export const regionKeyAad = (keyId: Uint8Array) => recordAad("backupRegionKey", null, 0, keyId);
export const macKey = (masterKey: Uint8Array) => deriveKey(masterKey, "backup-mac");

/** Two BLAKE2b states over the same bytes: the plain checksum and the keyed mac. */
export function createHashes(key: Uint8Array | undefined) {
  const s = sodium();
  const plain = s.crypto_generichash_init(null, hashBytes);
  const keyed = key && s.crypto_generichash_init(key, hashBytes);
  return {
    update(bytes: Uint8Array) {
      s.crypto_generichash_update(plain, bytes);
      if (keyed) s.crypto_generichash_update(keyed, bytes);
    },
    checksum: () => s.crypto_generichash_final(plain, hashBytes),
    mac: () => (keyed ? s.crypto_generichash_final(keyed, hashBytes) : undefined),
  };
}
