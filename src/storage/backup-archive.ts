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
import { masterKeyId } from "../crypto/keyring.ts";
import { deriveKey } from "../crypto/keyed-hash.ts";
import { open, seal } from "../crypto/seal.ts";
import { loadSodium, sodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { bytesEqual, toHex } from "./bytes.ts";
import { maxKeyBytes, type StoreSnapshot } from "./store.ts";

const magic = new TextEncoder().encode("CCBACKUP");
const formatVersion = 1;
const hashBytes = 32;
/** Output chunks are at least this big (except the last): few syscalls, bounded memory. */
const chunkBytes = 256 << 10;
/** A longer header or value means a damaged length field, not a real archive. */
const maxHeaderBytes = 64 << 10;
const maxValueBytes = 1 << 30;

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

export interface BackupSource {
  snapshot: StoreSnapshot;
  masterKey: Uint8Array;
  region: string;
  createdAt: number;
  /** The region's X25519 secret key, sealed into the archive so a restored region keeps its identity. */
  regionSecretKey?: Uint8Array;
  random: Random;
}

const regionKeyAad = (keyId: Uint8Array) => recordAad("backupRegionKey", null, 0, keyId);
const macKey = (masterKey: Uint8Array) => deriveKey(masterKey, "backup-mac");

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

/** Two BLAKE2b states over the same bytes: the plain checksum and the keyed mac. */
function createHashes(key: Uint8Array | undefined) {
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
      const out = new Uint8Array(pending);
      let at = 0;
      for (const part of parts) {
        out.set(part, at);
        at += part.length;
      }
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

export type BackupEvent =
  | { type: "header"; header: BackupHeader }
  /** The region's X25519 secret key: present when the archive holds one and a master key was given. */
  | { type: "region-key"; secretKey: Uint8Array }
  | { type: "entries"; entries: Array<[Uint8Array, Uint8Array]>; bytes: number }
  /** The last event: every check passed. */
  | { type: "end"; entries: number };

export interface ReadBackupOptions {
  /**
   * The master key the archive was made under: checks the mac and opens the
   * region key. Without it only the checksum and structure are checked.
   */
  masterKey?: Uint8Array;
  /** Largest entries batch handed out at once, in bytes. Default 4 MiB. */
  batchBytes?: number;
}

/** Reads exact byte counts from a chunk stream, hashing what it hands out. */
function createByteReader(chunks: AsyncIterable<Uint8Array>, hash: (bytes: Uint8Array) => void) {
  const iterator = chunks[Symbol.asyncIterator]();
  let buffer: Uint8Array = new Uint8Array(0);
  let at = 0;
  let offset = 0;
  const truncated = () => new ConcordError("corrupt_record", `the backup archive is truncated at byte ${offset}`);
  return {
    get offset() {
      return offset;
    },
    /**
     * The next `n` bytes. Memory grows with the bytes that actually arrive,
     * not with `n`: a damaged length field in a short file fails as truncated
     * instead of allocating what it claims.
     */
    async take(n: number, hashed = true): Promise<Uint8Array> {
      const parts: Uint8Array[] = [];
      let filled = 0;
      while (filled < n) {
        if (at === buffer.length) {
          const next = await iterator.next();
          if (next.done) throw truncated();
          buffer = next.value;
          at = 0;
          continue;
        }
        const step = Math.min(n - filled, buffer.length - at);
        // A copy (Buffer#slice would be a view into a pooled buffer).
        parts.push(new Uint8Array(buffer.subarray(at, at + step)));
        filled += step;
        at += step;
      }
      const out = parts.length === 1 ? parts[0]! : concat(parts, n);
      offset += n;
      if (hashed) hash(out);
      return out;
    },
    async u32(): Promise<number> {
      return new DataView((await this.take(4)).buffer).getUint32(0);
    },
    /** True when nothing follows. */
    async atEnd(): Promise<boolean> {
      while (at === buffer.length) {
        const next = await iterator.next();
        if (next.done) return true;
        buffer = next.value;
        at = 0;
      }
      return false;
    },
    async cancel(): Promise<void> {
      await iterator.return?.();
    },
  };
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function parseHeader(bytes: Uint8Array): BackupHeader {
  let json: Partial<BackupHeader>;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as Partial<BackupHeader>;
  } catch (cause) {
    throw new ConcordError("corrupt_record", "the backup archive's header is not JSON", { cause });
  }
  const ok =
    typeof json.region === "string" &&
    Number.isSafeInteger(json.createdAt) &&
    typeof json.masterKeyId === "string" &&
    /^[0-9a-f]+$/.test(json.masterKeyId) &&
    Number.isSafeInteger(json.entries) &&
    json.entries! >= 0;
  if (!ok) throw new ConcordError("corrupt_record", "the backup archive's header is malformed");
  return json as BackupHeader;
}

/**
 * Parses and checks an archive as it streams. Entries arrive in batches
 * before the checksum at the end is known: a consumer must treat them as
 * provisional until the "end" event (restore writes them aside and moves them
 * into place only then). Throws ConcordError "corrupt_record" for a damaged
 * or truncated archive, "wrong_key" for another master key, "unsupported" for
 * a newer format.
 */
export async function* readBackup(chunks: AsyncIterable<Uint8Array>, options: ReadBackupOptions = {}): AsyncGenerator<BackupEvent> {
  await loadSodium();
  const hashes = createHashes(options.masterKey && macKey(options.masterKey));
  const reader = createByteReader(chunks, (bytes) => hashes.update(bytes));
  const batchBytes = options.batchBytes ?? 4 << 20;
  try {
    if (!bytesEqual(await reader.take(magic.length), magic)) {
      throw new ConcordError("corrupt_record", "not a Concord backup archive (bad magic bytes)");
    }
    const version = await reader.take(4);
    if (version[0] !== formatVersion) {
      throw new ConcordError("unsupported", `backup archive format ${version[0]} is not supported (this version reads format ${formatVersion})`);
    }
    const headerLength = await reader.u32();
    if (headerLength > maxHeaderBytes) throw new ConcordError("corrupt_record", "the backup archive's header length is damaged");
    const header = parseHeader(await reader.take(headerLength));
    if (options.masterKey) {
      const keyId = toHex(masterKeyId(options.masterKey));
      if (keyId !== header.masterKeyId) {
        throw new ConcordError("wrong_key", `the backup was made under master key id ${header.masterKeyId}; the key given has id ${keyId}`);
      }
    }
    yield { type: "header", header };

    const regionKeyLength = await reader.u32();
    if (regionKeyLength > 1024) throw new ConcordError("corrupt_record", "the backup archive's region key length is damaged");
    const sealedRegionKey = await reader.take(regionKeyLength);
    if (options.masterKey && regionKeyLength > 0) {
      const aad = regionKeyAad(masterKeyId(options.masterKey));
      yield { type: "region-key", secretKey: open(options.masterKey, sealedRegionKey, aad, "the backup's region key") };
    }

    let count = 0;
    let batch: Array<[Uint8Array, Uint8Array]> = [];
    let bytes = 0;
    for (;;) {
      const keyLength = await reader.u32();
      if (keyLength === 0) break;
      if (keyLength > maxKeyBytes) throw new ConcordError("corrupt_record", `the backup archive is damaged at byte ${reader.offset} (key length ${keyLength})`);
      const key = await reader.take(keyLength);
      const valueLength = await reader.u32();
      if (valueLength > maxValueBytes) throw new ConcordError("corrupt_record", `the backup archive is damaged at byte ${reader.offset} (value length ${valueLength})`);
      const value = await reader.take(valueLength);
      batch.push([key, value]);
      bytes += keyLength + valueLength;
      count++;
      if (count > header.entries) throw new ConcordError("corrupt_record", `the backup archive holds more entries than its header's ${header.entries}`);
      if (bytes >= batchBytes) {
        yield { type: "entries", entries: batch, bytes };
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) yield { type: "entries", entries: batch, bytes };
    const trailerCount = Number(new DataView((await reader.take(8)).buffer).getBigUint64(0));
    const checksum = await reader.take(hashBytes, false);
    const mac = await reader.take(hashBytes, false);
    if (!(await reader.atEnd())) throw new ConcordError("corrupt_record", `the backup archive has bytes after its end (at byte ${reader.offset})`);
    if (!bytesEqual(checksum, hashes.checksum())) throw new ConcordError("corrupt_record", "the backup archive is damaged: its checksum does not match");
    const expectedMac = hashes.mac();
    if (expectedMac && !bytesEqual(mac, expectedMac)) {
      throw new ConcordError("wrong_key", "the backup archive's mac does not match this master key: it was made under another key or altered");
    }
    if (count !== header.entries || trailerCount !== count) {
      throw new ConcordError("corrupt_record", `the backup archive holds ${count} entries; its header says ${header.entries}`);
    }
    yield { type: "end", entries: count };
  } finally {
    await reader.cancel();
  }
}
