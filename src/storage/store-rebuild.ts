/**
 * The second half of `concord repair`: a store that holds whatever records
 * could be salvaged from a damaged one keeps exactly its intact documents.
 * Each document is loaded with every check a read makes (doc-load.ts: seals,
 * the record chain); one that fails, or whose id cannot be read any more, is
 * dropped whole (its data key, metadata, snapshot, log and version record),
 * and so are records that belong to no document. A dropped document is then
 * simply absent here: anti-entropy fetches it from the peers like any
 * document this region lacks. Tombstones and the boot epoch are kept.
 */
import { openKeyring, type Keyring } from "../crypto/keyring.ts";
import { isConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { toHex } from "./bytes.ts";
import { openMeta } from "./doc-meta.ts";
import { createDocStore } from "./doc-store.ts";
import { docHashBytes, layout, recordPrefix } from "./doc-store-layout.ts";
import type { Store, StoreWrite } from "./store.ts";
import { openVersion } from "./version-records.ts";

export interface RebuildReport {
  /** Documents that load with every check. */
  kept: number;
  /** Documents dropped as damaged: their ids, or `#` + storage hash when the id is unreadable too. */
  dropped: string[];
  /** Records removed: those of dropped documents and those that belonged to no document. */
  removedRecords: number;
  /** False when the keyring was unreadable: nothing could be kept, the store starts over (empty). */
  keyringIntact: boolean;
}

const writeBatchEntries = 1000;

/** The id a document's records name: from its metadata, else its version record. */
async function readId(store: Store, keyring: Keyring, hash: Uint8Array, wrapped: Uint8Array): Promise<string | undefined> {
  try {
    const meta = await store.get(layout.meta(hash));
    if (meta) return openMeta(keyring.unwrapDataKey(hash, wrapped), hash, meta).id;
  } catch (error) {
    // Damaged metadata or data key: the version record names the id too (the load then decides).
    if (!isConcordError(error)) throw error;
  }
  try {
    const version = await store.get(layout.version(hash));
    if (version) return openVersion(keyring.regionKey, hash, version).id;
  } catch (error) {
    if (!isConcordError(error, "corrupt_record")) throw error;
  }
  return undefined;
}

/** Deletes every record `keep` refuses, in bounded batches; how many. */
async function deleteAll(store: Store, keep: (key: Uint8Array) => boolean): Promise<number> {
  // Collected first, then deleted: no write runs while the scan does.
  const doomed: StoreWrite[] = [];
  for await (const [key] of store.scan(new Uint8Array(0))) if (!keep(key)) doomed.push({ key });
  for (let i = 0; i < doomed.length; i += writeBatchEntries) await store.write(doomed.slice(i, i + writeBatchEntries));
  return doomed.length;
}

/**
 * Keeps the intact documents of `store` and drops the rest (see above).
 * Throws ConcordError("wrong_key") when `masterKey` is not this region's.
 */
export async function keepIntactDocuments(
  store: Store, masterKey: Uint8Array, random: Random, onProgress: (done: number, total: number) => void = () => {},
): Promise<RebuildReport> {
  let keyring: Keyring;
  try {
    keyring = await openKeyring(store, masterKey, random);
  } catch (error) {
    if (!isConcordError(error, "corrupt_record")) throw error;
    // Without the keyring no storage key can be computed: nothing can be kept.
    const removedRecords = await deleteAll(store, () => false);
    await openKeyring(store, masterKey, random);
    return { kept: 0, dropped: [], removedRecords, keyringIntact: false };
  }
  const docs = createDocStore(store, keyring, random);
  const wrappedKeys: Array<[Uint8Array, Uint8Array]> = [];
  for await (const [key, wrapped] of store.scan(layout.dataKeyPrefix())) wrappedKeys.push([key.slice(1), wrapped]);
  const report: RebuildReport = { kept: 0, dropped: [], removedRecords: 0, keyringIntact: true };
  const intact = new Set<string>();
  for (const [i, [hash, wrapped]] of wrappedKeys.entries()) {
    onProgress(i, wrappedKeys.length);
    const id = await readId(store, keyring, hash, wrapped);
    try {
      if (id !== undefined && toHex(keyring.docHash(id)) === toHex(hash) && (await docs.load(id))) {
        intact.add(toHex(hash));
        report.kept++;
        continue;
      }
    } catch (error) {
      if (!isConcordError(error, "corrupt_record")) throw error;
    }
    report.dropped.push(id ?? `#${toHex(hash)}`);
  }
  onProgress(wrappedKeys.length, wrappedKeys.length);
  const perDocument = new Set<number>([recordPrefix.dataKey, recordPrefix.meta, recordPrefix.snapshot, recordPrefix.log, recordPrefix.version]);
  report.removedRecords = await deleteAll(store, (key) =>
    !perDocument.has(key[0]!) || (key.length >= 1 + docHashBytes && intact.has(toHex(key.subarray(1, 1 + docHashBytes)))));
  return report;
}
