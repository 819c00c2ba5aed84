/**
 * The "rot" nemesis: damage to a stopped region's records at rest, made on its
 * memory disk between a crash and the restart (the simulator's version of the
 * tamper harness, test/storage/tamper.test.ts). Two modes:
 *   drop-tail  every document's last log records (1-3, or up to half) deleted: its log rolled
 *              back, while its metadata (the record chain's head) and its
 *              version record still name the newer state;
 *   flip       one byte of one record of one document flipped.
 * A correct region refuses to serve such a document (corrupt_record) and
 * repairs it from a peer; with the injected bug serve-rolled-back-tail it
 * serves the rolled-back content, and its version record still says it is as
 * new as its peers', so anti-entropy does not look at it: the checker sees the
 * writes it lacks. Records are found by their key prefix (doc-store-layout.ts)
 * and the documents' storage keys (the keyring's, from the region's master key).
 */
import { openKeyring } from "../src/crypto/keyring.ts";
import { recordPrefix } from "../src/storage/doc-store-layout.ts";
import type { MemoryDisk } from "../src/storage/memory-store.ts";
import type { Random } from "../src/runtime/random.ts";
import type { StoreWrite } from "../src/storage/store.ts";
import type { RotMode } from "./nemesis.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const docOf = (key: Uint8Array) => hex(key.subarray(1, 17));

/** Damages documents `ids` on `disk` (their region must be stopped); what it did, for the timeline. */
export async function rotAtRest(disk: MemoryDisk, masterKey: Uint8Array, ids: readonly string[], mode: RotMode, random: Random): Promise<string> {
  const store = disk.open();
  try {
    // Opening an existing keyring writes nothing; it gives the storage keys of the documents.
    const keyring = await openKeyring(store, masterKey, random);
    const mine = new Set(ids.map((id) => hex(keyring.docHash(id))));
    const logs = new Map<string, Uint8Array[]>();
    const records: Array<[Uint8Array, Uint8Array]> = [];
    for await (const [key, value] of store.scan(new Uint8Array(0))) {
      const prefix = key[0];
      if (!mine.has(docOf(key))) continue;
      if (prefix === recordPrefix.log) logs.set(docOf(key), [...(logs.get(docOf(key)) ?? []), key]);
      if (prefix === recordPrefix.log || prefix === recordPrefix.meta || prefix === recordPrefix.snapshot) records.push([key, value]);
    }
    const writes: StoreWrite[] = [];
    if (mode === "drop-tail") {
      // Keys of one document's log sort by sequence (u64 big-endian): the tail is the end of the list.
      for (const keys of logs.values()) {
        const dropped = Math.min(keys.length, 1 + random.int(Math.max(3, Math.ceil(keys.length / 2))));
        for (const key of keys.slice(-dropped)) writes.push({ key });
      }
      if (writes.length > 0) {
        await store.write(writes);
        return `dropped the last ${writes.length} log record(s) of ${logs.size} document(s)`;
      }
    }
    const picked = records[random.int(records.length)];
    if (!picked) return "nothing to damage";
    const [key, value] = picked;
    const flipped = Uint8Array.from(value);
    flipped[random.int(flipped.length)]! ^= 1 << random.int(8);
    await store.write([{ key, value: flipped }]);
    return `flipped a bit of a ${String.fromCharCode(key[0]!)} record`;
  } finally {
    await store.close();
  }
}
