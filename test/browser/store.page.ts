/**
 * The IndexedDB store in a browser page, on the page's real IndexedDB:
 * - runConformance(): the Store conformance suite (test/conformance/store.ts,
 *   unchanged), bundled with "vitest" aliased to test/browser/page-vitest.ts;
 * - small store operations by handle for test/browser/indexeddb-store.test.ts
 *   (durability across a browser restart and a kill, the lock, the quota).
 * Bytes cross to Node as hex.
 */
import { createIndexedDbStore } from "../../src/storage/indexeddb-store.ts";
import { fromHex, toHex } from "../../src/storage/bytes.ts";
import { storeLockName } from "../../src/storage/indexeddb-lock.ts";
import type { Store } from "../../src/storage/store.ts";
import { runStoreConformance } from "../conformance/store.ts";
import { startPage } from "./page-api.ts";
import { runCollected } from "./page-vitest.ts";

let fixtures = 0;

function deleteDatabase(name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}

runStoreConformance("indexeddb (Chromium)", async () => {
  // A database per test: what one test leaves cannot reach the next.
  const name = `conformance-${++fixtures}`;
  let store: Store = createIndexedDbStore({ name });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = createIndexedDbStore({ name });
      return store;
    },
    cleanup: async () => {
      await store.close();
      await deleteDatabase(name);
    },
  };
});

const stores = new Map<string, Store>();

function storeOf(handle: string): Store {
  const store = stores.get(handle);
  if (!store) throw new Error(`no store "${handle}" is open in this page`);
  return store;
}

/** Random bytes (incompressible, so the quota sees their full size); getRandomValues fills 64 KiB per call. */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

startPage(async () => ({
  runConformance: () => runCollected(() => performance.now()),

  /** Opens the store `name` as `handle`; resolves once it is open (or rejects with its ConcordError). */
  async open(handle: string, name: string) {
    const store = createIndexedDbStore({ name });
    try {
      await store.get(new Uint8Array([0]));
    } catch (error) {
      await store.close();
      throw error;
    }
    stores.set(handle, store);
  },

  /** One batch: [keyHex, valueHex | null (delete)] pairs, or { key, randomBytes } for a large random value. */
  async write(handle: string, batch: Array<[string, string | null] | { key: string; randomBytes: number }>) {
    await storeOf(handle).write(
      batch.map((w) => (Array.isArray(w) ? { key: fromHex(w[0]), value: w[1] === null ? undefined : fromHex(w[1]) } : { key: fromHex(w.key), value: randomBytes(w.randomBytes) })),
    );
  },

  /** Every entry as [keyHex, valueHex] for small values, [keyHex, "<N bytes>"] above 64 bytes. */
  async entries(handle: string) {
    const out: Array<[string, string]> = [];
    for await (const [key, value] of storeOf(handle).scan(new Uint8Array(0))) out.push([toHex(key), value.length > 64 ? `<${value.length} bytes>` : toHex(value)]);
    return out;
  },

  /** Resolves once nobody holds the lock of the store `name` (it takes the lock and lets go at once). */
  async lockFreed(name: string) {
    await navigator.locks.request(storeLockName(name), () => undefined);
  },

  async close(handle: string) {
    await storeOf(handle).close();
    stores.delete(handle);
  },
}));
