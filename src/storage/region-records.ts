/**
 * Reading the region-wide records of a document store (see
 * doc-store-layout.ts): version records, tombstones and the boot epoch, all
 * sealed by the region key. A damaged one never stops the region from
 * starting: each is skipped or replaced, as explained where it happens.
 *
 * With several processes writing one store (a region on PostgreSQL), each
 * of them is written conditionally (see doc-store.ts), so two writers never
 * leave one that lies:
 * - the boot epoch: each bump expects the record it read, so two processes
 *   starting at once get two distinct, increasing epochs (the loser reads
 *   again). Processes of one region then hold different epochs; sharing one
 *   identity towards peers is the region wiring's job, not the store's;
 * - tombstones: a deletion expects the data key and metadata it read and no
 *   tombstone, a creation expects none of the three, so a delete racing a
 *   create or an append is refused and re-read, never leaving live records
 *   beside a tombstone;
 * - version records: each expects its document's metadata to be the one its
 *   writer last wrote (version-records.ts), so a version record never names a
 *   version other than the one its log replays to, which a load would take
 *   for a rolled-back record set. One dropped by a conflict leaves the
 *   previous, still true, record (or "not known", recomputed at open);
 * - the keyring (src/crypto/keyring.ts): created only if still absent, so
 *   processes opening an empty store at once agree on one index secret.
 */
import { recordAad } from "../crypto/aad.ts";
import { open, seal } from "../crypto/seal.ts";
import { assert, isConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import { decodeU64, encodeU64 } from "./bytes.ts";
import { layout } from "./doc-store-layout.ts";
import type { Store, StoreWrite } from "./store.ts";
import { openVersion } from "./version-records.ts";

const decoder = new TextDecoder();

/** Epochs are the high 32 bits of a u64 frame counter (src/gossip/secure-channel.ts). */
const maxEpoch = 2 ** 32 - 1;

/** Every readable version record. */
export async function* readVersions(store: Store, regionKey: Uint8Array): AsyncIterable<{ id: string; versionHash: Uint8Array | undefined }> {
  for await (const [key, sealed] of store.scan(layout.versionPrefix())) {
    let version;
    try {
      version = openVersion(regionKey, key.subarray(1), sealed);
    } catch (error) {
      // A damaged version record must not stop the region: its document is then missing from the digest tree,
      // so it differs from every peer's and anti-entropy looks at it (and repairs it, if it is damaged too).
      if (isConcordError(error, "corrupt_record")) continue;
      throw error;
    }
    yield version;
  }
}

/** The id of every readable tombstone. */
export async function* readTombstoneIds(store: Store, regionKey: Uint8Array): AsyncIterable<string> {
  for await (const [key, sealed] of store.scan(layout.tombstonePrefix())) {
    let id: string;
    try {
      id = (JSON.parse(decoder.decode(open(regionKey, sealed, recordAad("tombstone", key.subarray(1)), "a tombstone"))) as { id: string }).id;
    } catch {
      // Its id is unreadable, but the tombstone still stands (isDeleted looks at the key): the peers' tombstone
      // for the id then differs from nothing here, and anti-entropy's deletion finds it already deleted.
      continue;
    }
    yield id;
  }
}

/** The next boot epoch (see DocStore.nextEpoch); not yet written. */
export async function nextBootEpoch(store: Store, regionKey: Uint8Array, clock: Clock): Promise<number> {
  const sealed = await store.get(layout.epoch());
  // A damaged epoch record must not stop the region: the clock term alone keeps the epoch above earlier ones.
  let previous = 0;
  try {
    previous = sealed ? decodeU64(open(regionKey, sealed, recordAad("epoch", null), "the boot epoch")) : 0;
  } catch (error) {
    if (!isConcordError(error, "corrupt_record")) throw error;
  }
  const seconds = Math.floor(clock.now() / 1000);
  const epoch = Math.max(previous + 1, Number.isSafeInteger(seconds) ? seconds : 0);
  assert(epoch <= maxEpoch, `boot epoch ${epoch} does not fit in 32 bits`);
  return epoch;
}

export function bootEpochRecord(regionKey: Uint8Array, epoch: number, random: Random): StoreWrite {
  return { key: layout.epoch(), value: seal(regionKey, encodeU64(epoch), recordAad("epoch", null), random) };
}
