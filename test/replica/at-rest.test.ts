import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { openKeyring, rotateMasterKey } from "../../src/crypto/keyring.ts";
import { openReplica } from "../../src/node.ts";
import { openReplica as openOnStore } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { tempDir, testKey, unclosable, yjsClient } from "../helpers/replicas.ts";

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** A replica over a memory store the test can also reach directly, to tamper with records. */
async function tamperable() {
  const store = createMemoryStore();
  const key = testKey(4);
  const random = createSeededRandom(8);
  const r = await openOnStore({ store: unclosable(store), masterKey: key, random, compactMinLogBytes: 1 << 30 });
  const ring = await openKeyring(store, key, random);
  // Close without closing the shared store: reopen() gives a fresh replica over the same bytes.
  const reopen = () => openOnStore({ store: unclosable(store), masterKey: key, random });
  return { store, r, ring, reopen, key, random };
}

describe("at rest", () => {
  it("no file in the data directory contains a document id or any content", async () => {
    const dir = await tempDir();
    try {
      const r = await openReplica({ dir: dir.path, masterKey: testKey() });
      const markers: string[] = [];
      for (let i = 0; i < 6; i++) {
        const id = `MARKER-ID-${i}-zq7`;
        const content = `MARKER-CONTENT-${i}-xk9`;
        markers.push(id, content);
        await r.create(id, i % 2 ? "yjs" : "automerge");
        if (i % 2) await r.change(id, (d: Y.Doc) => d.getText("t").insert(0, content.repeat(50)));
        else await r.change(id, (d: Record<string, unknown>) => void (d[content] = content));
      }
      await r.close();
      const files = await filesUnder(dir.path);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const bytes = await readFile(file);
        for (const marker of markers) expect(bytes.includes(Buffer.from(marker)), `${marker} in ${file}`).toBe(false);
      }
    } finally {
      await dir.remove();
    }
  });

  it("a flipped byte in one record fails that document with corrupt_record; others still read", async () => {
    const { store, r, ring, reopen } = await tamperable();
    await r.create("victim", "yjs");
    await r.create("bystander", "yjs");
    await r.update("victim", yjsClient(1).insert("secret"));
    await r.update("bystander", yjsClient(2).insert("fine"));
    await r.close();
    const key = layout.log(ring.docHash("victim"), 1);
    const value = (await store.get(key))!;
    value[value.length - 3]! ^= 0x10;
    await store.write([{ key, value }]);
    const again = await reopen();
    await expect(again.read("victim")).rejects.toMatchObject({ code: "corrupt_record" });
    expect((await again.read("bystander")).value).toEqual({ text: "fine" });
  });

  it("a record moved to another document or sequence fails to open", async () => {
    const { store, r, ring, reopen } = await tamperable();
    await r.create("a", "yjs");
    await r.create("b", "yjs");
    const client = yjsClient(3);
    await r.update("a", client.insert("one"));
    await r.update("a", client.insert("two"));
    await r.update("b", yjsClient(4).insert("bee"));
    await r.close();
    const fromA = (await store.get(layout.log(ring.docHash("a"), 1)))!;
    // Into b's log at the same sequence: bound to document a, refused.
    await store.write([{ key: layout.log(ring.docHash("b"), 1), value: fromA }]);
    // Replayed inside a at another sequence: bound to sequence 1, refused.
    await store.write([{ key: layout.log(ring.docHash("a"), 2), value: fromA }]);
    const again = await reopen();
    await expect(again.read("b")).rejects.toMatchObject({ code: "corrupt_record" });
    await expect(again.read("a")).rejects.toMatchObject({ code: "corrupt_record" });
  });

  it("a wrong master key gets a clear error and changes nothing on disk", async () => {
    const dir = await tempDir();
    try {
      const r = await openReplica({ dir: dir.path, masterKey: testKey(1) });
      await r.create("d", "yjs");
      await r.close();
      const digest = async () => {
        const out: string[] = [];
        for (const f of await filesUnder(dir.path)) {
          if (!f.endsWith("lock.mdb")) out.push(f + createHash("sha256").update(await readFile(f)).digest("hex"));
        }
        return out.sort();
      };
      const before = await digest();
      await expect(openReplica({ dir: dir.path, masterKey: testKey(2) })).rejects.toMatchObject({
        code: "wrong_key",
        message: expect.stringContaining("does not open this data directory"),
      });
      expect(await digest()).toEqual(before);
      const ok = await openReplica({ dir: dir.path, masterKey: testKey(1) });
      expect((await ok.read("d")).kind).toBe("yjs");
      await ok.close();
    } finally {
      await dir.remove();
    }
  });

  it("a shredded document is gone for good: unreadable, not recreatable, no records left", async () => {
    const { store, r, ring } = await tamperable();
    await r.create("gone", "yjs");
    await r.create("kept", "automerge");
    await r.update("gone", yjsClient(5).insert("private"));
    const sealedLog = (await store.get(layout.log(ring.docHash("gone"), 1)))!;
    expect(await r.delete("gone")).toBe(true);
    expect(await r.delete("gone")).toBe(false);
    await expect(r.read("gone")).rejects.toMatchObject({ code: "deleted" });
    await expect(r.create("gone", "yjs")).rejects.toMatchObject({ code: "deleted" });
    const hash = ring.docHash("gone");
    for (const key of [layout.dataKey(hash), layout.meta(hash), layout.snapshot(hash)]) expect(await store.get(key)).toBeUndefined();
    const logs: unknown[] = [];
    for await (const entry of store.scan(layout.logPrefix(hash))) logs.push(entry);
    expect(logs).toEqual([]);
    // A copy of its log record taken before the delete (say, from an old disk) is still useless without the data key.
    await store.write([{ key: layout.log(hash, 1), value: sealedLog }]);
    await expect(r.read("gone")).rejects.toMatchObject({ code: "deleted" });
    const ids: string[] = [];
    for await (const id of r.list()) ids.push(id);
    expect(ids).toEqual(["kept"]);
  });

  it("after rotation every document reads with the new key and nothing with the old", async () => {
    const store = createMemoryStore();
    const sharedStore = unclosable(store);
    const random = createSeededRandom(11);
    const oldKey = testKey(5);
    const newKey = testKey(6);
    const r = await openOnStore({ store: sharedStore, masterKey: oldKey, random });
    const views = [];
    for (let i = 0; i < 20; i++) {
      await r.create(`d${i}`, i % 2 ? "yjs" : "automerge");
      if (i % 2) await r.update(`d${i}`, yjsClient(i).insert(`v${i}`));
      else await r.change(`d${i}`, (d: { v?: number }) => void (d.v = i));
      views.push(await r.read(`d${i}`));
    }
    await r.close();
    await rotateMasterKey(store, oldKey, newKey, random);
    const rotated = await openOnStore({ store: sharedStore, masterKey: newKey, random });
    for (const view of views) expect(await rotated.read(view.id)).toEqual(view);
    await expect(openOnStore({ store: sharedStore, masterKey: oldKey, random })).rejects.toMatchObject({ code: "wrong_key" });
  });
});
