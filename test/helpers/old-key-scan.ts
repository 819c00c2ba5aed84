/**
 * Evidence for key rotation (issue 10, finding 10): what of the key material
 * before a rotation is still in a data directory's raw bytes after it.
 *
 * - `recordingStore` wraps a store and keeps the nonce of every sealed value
 *   ever written through it, deleted or overwritten ones included. A sealed
 *   record cannot be opened without its nonce, so a directory holding none of
 *   them holds no record sealed before (under any old key).
 * - `scanDirectory` reads every file under a directory as raw bytes: how many
 *   recorded nonces occur, and how many data keys wrapped under the old
 *   master key occur and open with it (as the probe did).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { recordAad } from "../../src/crypto/aad.ts";
import { masterKeyId } from "../../src/crypto/keyring.ts";
import { open } from "../../src/crypto/seal.ts";
import { toHex } from "../../src/storage/bytes.ts";
import { docHashBytes, keyIdBytes, recordPrefix } from "../../src/storage/doc-store-layout.ts";
import type { Store } from "../../src/storage/store.ts";

const nonceBytes = 24;
const wrappedKeyBytes = 1 + nonceBytes + 32 + 16;

/** Where a value's nonce sits: after the key id of a wrapped data key, after the seq of a snapshot. */
function nonceOf(key: Uint8Array, value: Uint8Array): Uint8Array | undefined {
  const at = key[0] === recordPrefix.dataKey ? keyIdBytes : key[0] === recordPrefix.snapshot ? 8 : 0;
  return value[at] === 0x01 && value.length >= at + 1 + nonceBytes ? value.slice(at + 1, at + 1 + nonceBytes) : undefined;
}

export interface RecordingStore {
  store: Store;
  /** Every nonce written, by hex. */
  nonces: Map<string, Uint8Array>;
  /** The storage hash of every document a data key was written for. */
  docHashes: Map<string, Uint8Array>;
}

export function recordingStore(inner: Store): RecordingStore {
  const nonces = new Map<string, Uint8Array>();
  const docHashes = new Map<string, Uint8Array>();
  const store: Store = {
    get: (k) => inner.get(k),
    scan: (p) => inner.scan(p),
    snapshot: () => inner.snapshot(),
    close: () => inner.close(),
    write(batch) {
      for (const { key, value } of batch) {
        if (!value) continue;
        const nonce = nonceOf(key, value);
        if (nonce) nonces.set(toHex(nonce), nonce);
        if (key[0] === recordPrefix.dataKey) docHashes.set(toHex(key.subarray(1)), key.slice(1, 1 + docHashBytes));
      }
      return inner.write(batch);
    },
  };
  return { store, nonces, docHashes };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

export interface DirectoryScan {
  files: number;
  bytes: number;
  /** Distinct recorded nonces found. */
  noncesFound: number;
  /** Occurrences of the old master key's id (where wrapped data keys start). */
  oldKeyIdsFound: number;
  /** Of those, how many open as a data key under the old master key (one of `docHashes`). */
  oldWrappedKeysOpened: number;
  /** The data keys they opened to, by hex (distinct). */
  openedDataKeys: Set<string>;
}

/** Scans every file under `dir` (see the file header). */
export async function scanDirectory(dir: string, recorded: RecordingStore, oldKey: Uint8Array): Promise<DirectoryScan> {
  const oldKeyId = masterKeyId(oldKey);
  // Nonces indexed by their first four bytes: one lookup per byte offset of the files.
  const byPrefix = new Map<number, Uint8Array[]>();
  for (const nonce of recorded.nonces.values()) {
    const head = new DataView(nonce.buffer, nonce.byteOffset).getUint32(0);
    byPrefix.set(head, [...(byPrefix.get(head) ?? []), nonce]);
  }
  const found = new Set<string>();
  const scan: DirectoryScan = { files: 0, bytes: 0, noncesFound: 0, oldKeyIdsFound: 0, oldWrappedKeysOpened: 0, openedDataKeys: new Set() };
  for (const path of await filesUnder(dir)) {
    const buffer = await readFile(path);
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    scan.files++;
    scan.bytes += bytes.length;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let at = 0; at + nonceBytes <= bytes.length; at++) {
      const candidates = byPrefix.get(view.getUint32(at));
      if (!candidates) continue;
      for (const nonce of candidates) if (bytes.subarray(at, at + nonceBytes).every((b, i) => b === nonce[i])) found.add(toHex(nonce));
    }
    for (let at = buffer.indexOf(oldKeyId); at >= 0; at = buffer.indexOf(oldKeyId, at + 1)) {
      scan.oldKeyIdsFound++;
      const sealed = bytes.subarray(at + keyIdBytes, at + keyIdBytes + wrappedKeyBytes);
      for (const docHash of recorded.docHashes.values()) {
        try {
          scan.openedDataKeys.add(toHex(open(oldKey, sealed, recordAad("dataKey", docHash, 0, oldKeyId))));
          scan.oldWrappedKeysOpened++;
          break;
        } catch {
          // Not this document's key (or not a wrapped key at all).
        }
      }
    }
  }
  scan.noncesFound = found.size;
  return scan;
}
