import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { masterKeyId, openKeyring, rotateMasterKey } from "../../src/crypto/keyring.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { toHex } from "../../src/storage/bytes.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { rekeyStore } from "../../src/storage/store-rekey.ts";
import type { Store } from "../../src/storage/store.ts";
import { recordingStore } from "../helpers/old-key-scan.ts";
import { unclosable } from "../helpers/replicas.ts";

const clock = createManualClock(1_700_000_000_000);

/** A store with documents of both kinds (some compacted, some with a log), deletions and a boot epoch. */
async function populated(seed: number) {
  const random = createSeededRandom(seed);
  const oldKey = random.bytes(32);
  const recorded = recordingStore(createMemoryStore());
  const replica = await openReplica({ store: unclosable(recorded.store), masterKey: oldKey, clock, random, compactMaxLogRecords: 4 });
  for (let i = 0; i < 30; i++) {
    await replica.create(`y${i}`, "yjs");
    // Every third document gets past the compaction threshold: a snapshot and a log after it.
    for (let k = 0; k < (i % 3 === 0 ? 6 : 2); k++) await replica.change(`y${i}`, (doc: Y.Doc) => doc.getText("t").insert(0, `${i}.${k} `));
    await replica.create(`a${i}`, "automerge", { init: { items: [] } });
    await replica.patch(`a${i}`, [{ op: "push", path: ["items"], value: i }]);
  }
  for (let i = 0; i < 5; i++) await replica.delete(`y${i + 10}`);
  await replica.delete("never-here").catch(() => undefined);
  const views = new Map<string, unknown>();
  for await (const id of replica.list({ limit: 1000 })) views.set(id, await replica.read(id));
  const epoch = replica.epoch;
  await replica.close();
  return { random, oldKey, recorded, store: recorded.store, views, epoch };
}

async function allValues(store: Store): Promise<Array<[Uint8Array, Uint8Array]>> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for await (const entry of store.scan(new Uint8Array(0))) out.push(entry);
  return out;
}

async function readAll(replica: Replica): Promise<Map<string, unknown>> {
  const views = new Map<string, unknown>();
  for await (const id of replica.list({ limit: 1000 })) views.set(id, await replica.read(id));
  return views;
}

describe("re-keying a store (issue 10, finding 10)", () => {
  it("copies every document, tombstone and the epoch under the new key, and nothing of the old keys", async () => {
    const { random, oldKey, recorded, store, views, epoch } = await populated(1);
    const newKey = random.bytes(32);
    const into = createMemoryStore();
    const progress: Array<[number, number]> = [];
    const report = await rekeyStore(store, into, oldKey, newKey, random, { maxBatchDocs: 7, onProgress: (d, t) => progress.push([d, t]) });
    expect(report).toEqual({ documents: 55, alreadyCopied: 0, tombstones: 5, tombstonesUnreadable: 0 });
    expect(progress.at(-1)).toEqual([55, 55]);
    expect(progress.length).toBeGreaterThan(5);

    // Every value in the new store is new: no nonce of anything ever sealed before (deleted records included).
    const values = await allValues(into);
    const bytes = Buffer.concat(values.flatMap(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
    let old = 0;
    for (const nonce of recorded.nonces.values()) if (bytes.includes(Buffer.from(nonce))) old++;
    expect(recorded.nonces.size).toBeGreaterThan(200);
    expect(old).toBe(0);
    // New storage names too (a new index secret), and the old key opens nothing.
    const oldRing = await openKeyring(unclosable(store), oldKey, random);
    const newRing = await openKeyring(into, newKey, random);
    expect(toHex(newRing.docHash("y1"))).not.toBe(toHex(oldRing.docHash("y1")));
    await expect(openKeyring(into, oldKey, random)).rejects.toMatchObject({ code: "wrong_key" });
    // And new data keys: none equals the document's old one.
    for (const id of ["y0", "y1", "a7"]) {
      const oldDataKey = oldRing.unwrapDataKey(oldRing.docHash(id), (await store.get(layout.dataKey(oldRing.docHash(id))))!);
      const newDataKey = newRing.unwrapDataKey(newRing.docHash(id), (await into.get(layout.dataKey(newRing.docHash(id))))!);
      expect(toHex(newDataKey)).not.toBe(toHex(oldDataKey));
    }

    const reopened = await openReplica({ store: into, masterKey: newKey, clock, random });
    expect(await readAll(reopened)).toEqual(views);
    expect(await reopened.status("y12")).toEqual({ state: "deleted" });
    await expect(reopened.create("y12", "yjs")).rejects.toMatchObject({ code: "deleted" });
    expect(reopened.epoch).toBeGreaterThan(epoch);
    // It takes writes as before, across a compaction.
    for (let k = 0; k < 6; k++) await reopened.change("y0", (doc: Y.Doc) => doc.getText("t").insert(0, "n"));
    expect(((await reopened.read("y0")).value as { t: string }).t.startsWith("nnnnnn")).toBe(true);
    await reopened.close();
  });

  it("finishes when run again after a crash at any write, with the same result", async () => {
    const { random, oldKey, store, views } = await populated(2);
    const newKey = random.bytes(32);
    const into = createMemoryStore();
    for (let crashAt = 1; ; crashAt++) {
      let writes = 0;
      const failing: Store = { ...unclosable(into), write: async (batch) => (++writes === crashAt ? Promise.reject(new Error("power cut")) : into.write(batch)) };
      try {
        const report = await rekeyStore(store, failing, oldKey, newKey, random, { maxBatchDocs: 10 });
        expect(report.documents).toBe(55);
        break;
      } catch (error) {
        expect((error as Error).message).toBe("power cut");
      }
      expect(crashAt).toBeLessThan(50);
    }
    const reopened = await openReplica({ store: into, masterKey: newKey, clock, random });
    expect(await readAll(reopened)).toEqual(views);
    await reopened.close();
  });

  it("refuses a damaged document, naming it and concord repair, and a store halfway through a rewrap", async () => {
    const { random, oldKey, store } = await populated(3);
    const ring = await openKeyring(unclosable(store), oldKey, random);
    const log = layout.logPrefix(ring.docHash("y3"));
    for await (const [key, value] of store.scan(log)) {
      const flipped = value.slice();
      flipped[flipped.length - 1]! ^= 1;
      await store.write([{ key, value: flipped }]);
      break;
    }
    await expect(rekeyStore(store, createMemoryStore(), oldKey, random.bytes(32), random)).rejects.toMatchObject({
      code: "corrupt_record", message: expect.stringMatching(/"y3" is damaged.*concord repair/),
    });

    const other = await populated(4);
    const failing: Store = { ...unclosable(other.store), write: async (batch) => (batch.some(({ key }) => key[0] === layout.dataKeyPrefix()[0]) ? Promise.reject(new Error("power cut")) : other.store.write(batch)) };
    const newKey = other.random.bytes(32);
    await expect(rotateMasterKey(failing, other.oldKey, newKey, other.random)).rejects.toThrow("power cut");
    await expect(rekeyStore(other.store, createMemoryStore(), other.oldKey, other.random.bytes(32), other.random)).rejects.toMatchObject({
      code: "invalid_argument", message: expect.stringContaining("--rewrap-only"),
    });
    expect(masterKeyId(newKey)).toHaveLength(8);
  });

  it("refuses a store holding a record kind it does not know, rather than leave it behind", async () => {
    const { random, oldKey, store } = await populated(5);
    await store.write([{ key: Uint8Array.of(0x51, 1, 2, 3), value: Uint8Array.of(9) }]);
    const into = createMemoryStore();
    await expect(rekeyStore(store, into, oldKey, random.bytes(32), random)).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining("0x51") });
    expect(await allValues(into)).toEqual([]);
  });
});
