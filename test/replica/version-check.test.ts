/**
 * A document whose records ALL went back to an older set (data key, metadata,
 * snapshot and log, as a stale page or a restored copy of its records holds
 * them) still chains: only its version record, kept elsewhere and sealed by
 * the region key, says it should be further. The replica refuses to serve it
 * (corrupt_record) and repairs it from a peer's whole state.
 */
import { describe, expect, it } from "vitest";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { layout, recordPrefix } from "../../src/storage/doc-store-layout.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store, StoreWrite } from "../../src/storage/store.ts";
import { memoryReplica, testKey, unclosable } from "../helpers/replicas.ts";

const perDocument = new Set<number>([recordPrefix.dataKey, recordPrefix.meta, recordPrefix.snapshot, recordPrefix.log]);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Every record of the document with this hash except its version record, by key. */
async function docRecords(store: Store, docHash: Uint8Array): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const [key, value] of store.scan(new Uint8Array(0))) {
    if (perDocument.has(key[0]!) && hex(key.subarray(1, 17)) === hex(docHash)) out.set(hex(key), value);
  }
  return out;
}

describe("a document rolled back to an older, self-consistent record set", () => {
  for (const kind of ["yjs", "automerge"] as const) {
    it(`is refused as corrupt_record, not served, and repaired from a peer's whole state (${kind})`, async () => {
      const store = createMemoryStore();
      const key = testKey(5);
      const random = createSeededRandom(11);
      const open = () => openReplica({ store: unclosable(store), masterKey: key, random });
      const docHash = (await openKeyring(store, key, random)).docHash("d");
      const peer = await memoryReplica();
      let r = await open();
      await r.create("d", kind);
      await r.patch("d", [{ op: "push", path: ["items"], value: "one" }]);
      const older = await docRecords(store, docHash);
      await r.patch("d", [{ op: "push", path: ["items"], value: "two" }]);
      await peer.applyRemote("d", kind, await r.encodeState("d"));
      await r.close();

      // Back to the older set: its records restored, the records written since deleted; the version record stays.
      const current = await docRecords(store, docHash);
      const writes: StoreWrite[] = [...current.keys()].filter((k) => !older.has(k)).map((k) => ({ key: Buffer.from(k, "hex") }));
      for (const [k, value] of older) writes.push({ key: Buffer.from(k, "hex"), value });
      await store.write(writes);
      expect(await store.get(layout.version(docHash))).toBeDefined();

      r = await open();
      await expect(r.read("d")).rejects.toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/version record/) });
      expect(await r.repair("d", kind, await peer.encodeState("d"))).toBe(true);
      expect((await r.read("d")).value).toEqual({ items: ["one", "two"] });
      await r.close();
      await peer.close();
    });
  }
});
