/** Writing a backup archive (format: src/storage/backup-archive.ts) from a store snapshot. */
import { masterKeyId } from "../crypto/keyring.ts";
import { seal } from "../crypto/seal.ts";
import { loadSodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { chunkBytes, createHashes, formatVersion, hashBytes, macKey, magic, regionKeyAad, type BackupHeader } from "./backup-archive.ts";
import { concatBytes, toHex } from "./bytes.ts";
import type { StoreSnapshot } from "./store.ts";

export interface BackupSource {
  snapshot: StoreSnapshot;
  masterKey: Uint8Array;
  region: string;
  createdAt: number;
  /** The region's X25519 secret key, sealed into the archive so a restored region keeps its identity. */
  regionSecretKey?: Uint8Array;
  random: Random;
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** An archive ready to stream: its header, and its bytes. */
export interface Backup {
  header: BackupHeader;
  /**
   * The archive's bytes, in chunks. The snapshot is read once, page by page;
   * memory stays at about one chunk plus one value. The snapshot is released
   * when the chunks end, fail or are abandoned (return()).
   */
  chunks: AsyncGenerator<Uint8Array>;
  /**
   * Releases the snapshot now (idempotent). For a caller that gives up on
   * `chunks` before reading it: a generator never started does not run its
   * cleanup on return().
   */
  release(): void;
}

/** Starts a backup of `source.snapshot`, which it now owns. */
export async function createBackup(source: BackupSource): Promise<Backup> {
  try {
    await loadSodium();
    const keyId = masterKeyId(source.masterKey);
    const header: BackupHeader = { region: source.region, createdAt: source.createdAt, masterKeyId: toHex(keyId), entries: await source.snapshot.count() };
    return { header, chunks: archiveChunks(source, header, keyId), release: () => source.snapshot.release() };
  } catch (error) {
    source.snapshot.release();
    throw error;
  }
}

async function* archiveChunks(source: BackupSource, header: BackupHeader, keyId: Uint8Array): AsyncGenerator<Uint8Array> {
  try {
    const hashes = createHashes(macKey(source.masterKey));
    const headerBytes = new TextEncoder().encode(JSON.stringify(header));
    const sealedRegionKey = source.regionSecretKey
      ? seal(source.masterKey, source.regionSecretKey, regionKeyAad(keyId), source.random)
      : new Uint8Array(0);

    let parts: Uint8Array[] = [];
    let pending = 0;
    const push = (bytes: Uint8Array) => {
      parts.push(bytes);
      pending += bytes.length;
    };
    const flush = (): Uint8Array => {
      const out = concatBytes(...parts);
      parts = [];
      pending = 0;
      hashes.update(out);
      return out;
    };

    push(magic);
    push(Uint8Array.of(formatVersion, 0, 0, 0));
    push(u32(headerBytes.length));
    push(headerBytes);
    push(u32(sealedRegionKey.length));
    push(sealedRegionKey);
    let written = 0;
    for await (const [key, value] of source.snapshot.entries()) {
      push(u32(key.length));
      push(key);
      push(u32(value.length));
      push(value);
      written++;
      if (pending >= chunkBytes) yield flush();
    }
    if (written !== header.entries) {
      throw new ConcordError("internal", `the snapshot counted ${header.entries} entries but yielded ${written}`);
    }
    push(u32(0));
    push(u64(written));
    yield flush();
    const trailer = new Uint8Array(hashBytes * 2);
    trailer.set(hashes.checksum(), 0);
    trailer.set(hashes.mac()!, hashBytes);
    yield trailer;
  } finally {
    source.snapshot.release();
  }
}
