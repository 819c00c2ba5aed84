/**
 * The IndexedDB store in Node, on fake-indexeddb: the Store conformance suite,
 * plus what only this adapter does (a late open, a quota refusal, a database
 * upgraded by another page, a newer build's database). The same suite runs in
 * real Chromium in test/browser/indexeddb-store.test.ts.
 */
import { IDBFactory, IDBKeyRange } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { isConcordError, type ErrorCode } from "../../src/errors.ts";
import { indexedDbError, schemaVersion } from "../../src/storage/indexeddb-database.ts";
import { createIndexedDbStore } from "../../src/storage/indexeddb-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { runStoreConformance } from "../conformance/store.ts";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (isConcordError(error) ? error.code : String(error)),
  );
}

runStoreConformance("indexeddb (fake-indexeddb)", async () => {
  const indexedDB = new IDBFactory();
  const open = (): Store => createIndexedDbStore({ name: "conformance", indexedDB, IDBKeyRange });
  let store = open();
  return {
    store,
    reopen: async () => {
      await store.close();
      store = open();
      return store;
    },
    cleanup: async () => {
      await store.close();
    },
  };
});

describe("IndexedDB store", () => {
  it("takes writes issued before the database is open, in call order, copied at the call", async () => {
    const indexedDB = new IDBFactory();
    const store = createIndexedDbStore({ name: "early", indexedDB, IDBKeyRange });
    const value = bytes(1);
    const first = store.write([{ key: bytes(7), value }]);
    value.fill(9);
    const second = store.write([{ key: bytes(8), value: bytes(2) }, { key: bytes(7) }]);
    await Promise.all([first, second]);
    expect(await store.get(bytes(7))).toBeUndefined();
    expect(await store.get(bytes(8))).toEqual(bytes(2));
    await store.close();
  });

  it("stores exactly the bytes of a view into a larger buffer", async () => {
    const indexedDB = new IDBFactory();
    const store = createIndexedDbStore({ name: "views", indexedDB, IDBKeyRange });
    const big = new Uint8Array(1 << 16).fill(5);
    await store.write([{ key: big.subarray(10, 12), value: big.subarray(100, 103) }]);
    const got = await store.get(bytes(5, 5));
    expect(got).toEqual(bytes(5, 5, 5));
    expect(got?.buffer.byteLength).toBe(3);
    await store.close();
  });

  it("fails every call with unavailable once another page deletes the database, and closes cleanly", async () => {
    const indexedDB = new IDBFactory();
    const store = createIndexedDbStore({ name: "deleted", indexedDB, IDBKeyRange });
    await store.write([{ key: bytes(1), value: bytes(1) }]);
    // deleteDatabase fires versionchange at our connection; the store lets go instead of blocking it.
    await new Promise<void>((resolve, reject) => {
      const request = indexedDB.deleteDatabase("deleted");
      request.onsuccess = () => resolve();
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("blocked: the store did not let go"));
    });
    expect(await codeOf(store.get(bytes(1)))).toBe("unavailable");
    expect(await codeOf(store.write([{ key: bytes(2), value: bytes(2) }]))).toBe("unavailable");
    await store.close();
  });

  it("refuses a database made by a newer build with unsupported", async () => {
    const indexedDB = new IDBFactory();
    await new Promise<void>((resolve, reject) => {
      const request = indexedDB.open("newer", schemaVersion + 1);
      request.onsuccess = () => {
        request.result.close();
        resolve();
      };
      request.onerror = () => reject(request.error);
    });
    const store = createIndexedDbStore({ name: "newer", indexedDB, IDBKeyRange });
    expect(await codeOf(store.get(bytes(1)))).toBe("unsupported");
    expect(await codeOf(store.write([{ key: bytes(1), value: bytes(1) }]))).toBe("unsupported");
    await store.close();
  });

  it("maps a quota refusal to storage_full and anything else to unavailable", () => {
    const quota = indexedDbError("writing", new DOMException("quota", "QuotaExceededError"));
    expect([quota.code, quota.details["reason"]]).toEqual(["storage_full", "quota"]);
    expect(indexedDbError("writing", new DOMException("gone", "InvalidStateError")).code).toBe("unavailable");
    expect(indexedDbError("opening", new DOMException("newer", "VersionError")).code).toBe("unsupported");
  });

  it("refuses bad options and a missing IndexedDB with clear errors", () => {
    const error = (fn: () => unknown): string => {
      try {
        fn();
        return "no error";
      } catch (e) {
        return isConcordError(e) ? e.code : String(e);
      }
    };
    expect(error(() => createIndexedDbStore({ name: "" }))).toBe("invalid_argument");
    expect(error(() => createIndexedDbStore({ name: "x" }))).toBe("unavailable"); // Node has no global indexedDB
    expect(error(() => createIndexedDbStore({ name: "x", indexedDB: new IDBFactory(), IDBKeyRange, snapshotMaxBytes: 0 }))).toBe(
      "invalid_argument",
    );
  });

  it("refuses a snapshot larger than snapshotMaxBytes with too_large", async () => {
    const store = createIndexedDbStore({ name: "big", indexedDB: new IDBFactory(), IDBKeyRange, snapshotMaxBytes: 1000 });
    await store.write([{ key: bytes(1), value: new Uint8Array(600) }]);
    const small = await store.snapshot();
    expect(await small.count()).toBe(1);
    small.release();
    await store.write([{ key: bytes(2), value: new Uint8Array(600) }]);
    expect(await codeOf(store.snapshot())).toBe("too_large");
    await store.close();
  });
});
