import { beforeAll, describe, expect, it } from "vitest";
import { masterKeyId, openKeyring, rotateMasterKey } from "../../src/crypto/keyring.ts";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import type { Store } from "../../src/storage/store.ts";

beforeAll(async () => {
  await loadSodium();
});

async function dump(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of store.scan(new Uint8Array(0))) out.push(Buffer.from(k).toString("hex") + "=" + Buffer.from(v).toString("hex"));
  return out;
}

describe("keyring", () => {
  it("creates a keyring on an empty store and reopens it with the same key", async () => {
    const random = createSeededRandom(1);
    const store = createMemoryStore();
    const key = random.bytes(32);
    const first = await openKeyring(store, key, random);
    const again = await openKeyring(store, key, random);
    expect(again.docHash("notes")).toEqual(first.docHash("notes"));
    expect(again.keyId).toEqual(masterKeyId(key));
  });

  it("refuses a wrong master key with a clear error and writes nothing", async () => {
    const random = createSeededRandom(2);
    const store = createMemoryStore();
    await openKeyring(store, random.bytes(32), random);
    const before = await dump(store);
    await expect(openKeyring(store, random.bytes(32), random)).rejects.toMatchObject({
      code: "wrong_key",
      message: expect.stringContaining("does not open this data directory"),
    });
    expect(await dump(store)).toEqual(before);
  });

  it("takes back its own keyring record whose storage key was damaged (a flipped bit), instead of calling the key wrong", async () => {
    const random = createSeededRandom(4);
    const store = createMemoryStore();
    const key = random.bytes(32);
    const first = await openKeyring(store, key, random);
    const good = layout.keyring(masterKeyId(key));
    const flipped = Uint8Array.from(good);
    flipped[2]! ^= 0x20;
    await store.write([{ key: good }, { key: flipped, value: (await store.get(good))! }]);
    const again = await openKeyring(store, key, random);
    expect(again.docHash("notes")).toEqual(first.docHash("notes"));
    expect(await store.get(flipped)).toBeUndefined();
    expect(await store.get(good)).toBeDefined();
    // Another master key still does not open it.
    await expect(openKeyring(store, random.bytes(32), random)).rejects.toMatchObject({ code: "wrong_key" });
  });

  it("rejects a master key of the wrong length", async () => {
    await expect(openKeyring(createMemoryStore(), new Uint8Array(16), createSeededRandom(3))).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });

  it("wraps data keys so only the right document and key open them", async () => {
    const random = createSeededRandom(4);
    const ring = await openKeyring(createMemoryStore(), random.bytes(32), random);
    const hash = ring.docHash("a");
    const dataKey = ring.newDataKey();
    const wrapped = ring.wrapDataKey(hash, dataKey);
    expect(ring.unwrapDataKey(hash, wrapped)).toEqual(dataKey);
    expect(() => ring.unwrapDataKey(ring.docHash("b"), wrapped)).toThrow(expect.objectContaining({ code: "corrupt_record" }));
  });

  it("rotation rewraps every data key: the new key opens all, the old key nothing", async () => {
    const random = createSeededRandom(5);
    const store = createMemoryStore();
    const oldKey = random.bytes(32);
    const newKey = random.bytes(32);
    const ring = await openKeyring(store, oldKey, random);
    const dataKeys = new Map<string, Uint8Array>();
    for (let i = 0; i < 40; i++) {
      const hash = ring.docHash(`doc-${i}`);
      const dataKey = ring.newDataKey();
      dataKeys.set(`doc-${i}`, dataKey);
      await store.write([{ key: layout.dataKey(hash), value: ring.wrapDataKey(hash, dataKey) }]);
    }
    const progress: number[] = [];
    const { rewrapped } = await rotateMasterKey(store, oldKey, newKey, random, {
      batchSize: 16,
      onProgress: (p) => progress.push(p.rewrapped),
    });
    expect(rewrapped).toBe(40);
    expect(progress.at(-1)).toBe(40);
    const rotated = await openKeyring(store, newKey, random);
    expect(rotated.docHash("doc-1")).toEqual(ring.docHash("doc-1"));
    for (const [id, dataKey] of dataKeys) {
      const hash = rotated.docHash(id);
      expect(rotated.unwrapDataKey(hash, (await store.get(layout.dataKey(hash)))!)).toEqual(dataKey);
    }
    await expect(openKeyring(store, oldKey, random)).rejects.toMatchObject({ code: "wrong_key" });
  });

  it("an interrupted rotation resumes when run again", async () => {
    const random = createSeededRandom(6);
    const store = createMemoryStore();
    const oldKey = random.bytes(32);
    const newKey = random.bytes(32);
    const ring = await openKeyring(store, oldKey, random);
    for (let i = 0; i < 10; i++) {
      const hash = ring.docHash(`d${i}`);
      await store.write([{ key: layout.dataKey(hash), value: ring.wrapDataKey(hash, ring.newDataKey()) }]);
    }
    let calls = 0;
    const failing: Store = {
      get: (k) => store.get(k),
      scan: (p) => store.scan(p),
      snapshot: () => store.snapshot(),
      close: () => store.close(),
      write: async (batch) => {
        if (++calls === 3) throw new Error("power cut");
        return store.write(batch);
      },
    };
    await expect(rotateMasterKey(failing, oldKey, newKey, random, { batchSize: 3 })).rejects.toThrow("power cut");
    // Mid-rotation the new key opens the directory, but a key still under the old one says so clearly.
    const half = await openKeyring(store, newKey, random);
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const hash = half.docHash(`d${i}`);
      const wrapped = (await store.get(layout.dataKey(hash)))!;
      try {
        half.unwrapDataKey(hash, wrapped);
        codes.push("ok");
      } catch (error) {
        codes.push((error as { code: string }).code);
      }
    }
    expect(codes.filter((c) => c === "ok")).toHaveLength(3);
    expect(codes.filter((c) => c === "wrong_key")).toHaveLength(7);
    await rotateMasterKey(store, oldKey, newKey, random, { batchSize: 3 });
    const done = await openKeyring(store, newKey, random);
    for (let i = 0; i < 10; i++) {
      const hash = done.docHash(`d${i}`);
      expect(done.unwrapDataKey(hash, (await store.get(layout.dataKey(hash)))!).length).toBe(32);
    }
    await expect(openKeyring(store, oldKey, random)).rejects.toMatchObject({ code: "wrong_key" });
  });
});
