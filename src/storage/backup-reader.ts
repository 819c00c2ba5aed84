/** Reading and checking a backup archive (format: src/storage/backup-archive.ts) as it streams. */
import { masterKeyId } from "../crypto/keyring.ts";
import { open } from "../crypto/seal.ts";
import { loadSodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";
import { createHashes, formatVersion, hashBytes, macKey, magic, maxHeaderBytes, maxValueBytes, regionKeyAad, type BackupHeader } from "./backup-archive.ts";
import { bytesEqual, concatBytes, toHex } from "./bytes.ts";
import { maxKeyBytes } from "./store.ts";

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
      const out = parts.length === 1 ? parts[0]! : concatBytes(...parts);
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
