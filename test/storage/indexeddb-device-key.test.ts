/**
 * The device-key helpers in Node, on fake-indexeddb and Node's WebCrypto:
 * one key per database, agreed on by concurrent first calls, refused when
 * altered; a passphrase key that is stable across versions and opens the
 * replica only with the right passphrase. Chromium runs them too
 * (test/browser/replica.test.ts).
 */
import { IDBFactory, IDBKeyRange } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { deriveKeyFromPassphrase } from "../../src/crypto/passphrase-key.ts";
import { isConcordError } from "../../src/errors.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { toHex } from "../../src/storage/bytes.ts";
import { deviceKeysStoreName } from "../../src/storage/indexeddb-database.ts";
import { passphraseDeviceKey, webCryptoDeviceKey } from "../../src/storage/indexeddb-device-key.ts";
import { createIndexedDbStore } from "../../src/storage/indexeddb-store.ts";

/** Cheap Argon2id for tests; the default cost is exercised once. */
const cheap = { opsLimit: 1, memLimitBytes: 1024 * 1024 };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (isConcordError(error) ? error.code : String(error)),
  );
}

/** Rewrites the device-key record `key` of database `name` through `change`. */
async function alterRecord(indexedDB: IDBFactory, name: string, key: string, change: (record: Record<string, unknown>) => void): Promise<void> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = indexedDB.open(name);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  await new Promise<void>((resolve, reject) => {
    const tx = db.transaction(deviceKeysStoreName, "readwrite");
    const store = tx.objectStore(deviceKeysStoreName);
    const request = store.get(key);
    request.onsuccess = () => {
      const record = request.result as Record<string, unknown>;
      change(record);
      store.put(record, key);
    };
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error);
  });
  db.close();
}

describe("webCryptoDeviceKey", () => {
  it("makes one random 32-byte key per database and returns it on every later call", async () => {
    const indexedDB = new IDBFactory();
    const first = await webCryptoDeviceKey({ name: "app", indexedDB });
    expect(first.length).toBe(32);
    expect(toHex(await webCryptoDeviceKey({ name: "app", indexedDB }))).toBe(toHex(first));
    expect(toHex(await webCryptoDeviceKey({ name: "other", indexedDB }))).not.toBe(toHex(first));
  });

  it("gives concurrent first calls the same key", async () => {
    const indexedDB = new IDBFactory();
    const keys = await Promise.all([1, 2, 3, 4].map(() => webCryptoDeviceKey({ name: "race", indexedDB })));
    expect(new Set(keys.map(toHex)).size).toBe(1);
  });

  it("refuses a record whose wrapped key was altered with corrupt_record", async () => {
    const indexedDB = new IDBFactory();
    await webCryptoDeviceKey({ name: "app", indexedDB });
    await alterRecord(indexedDB, "app", "webcrypto", (record) => {
      (record["wrapped"] as Uint8Array)[0]! ^= 1;
    });
    expect(await codeOf(webCryptoDeviceKey({ name: "app", indexedDB }))).toBe("corrupt_record");
  });

  it("keeps the wrapping key non-extractable", async () => {
    const indexedDB = new IDBFactory();
    await webCryptoDeviceKey({ name: "app", indexedDB });
    let extractable: unknown;
    await alterRecord(indexedDB, "app", "webcrypto", (record) => {
      extractable = (record["wrappingKey"] as CryptoKey).extractable;
    });
    expect(extractable).toBe(false);
  });
});

describe("passphraseDeviceKey", () => {
  it("derives Argon2id as the reference implementation does, from the NFC form: a change here strands every existing store", async () => {
    const salt = new TextEncoder().encode("concord-kat-salt");
    const key = await deriveKeyFromPassphrase("correct horse battery staple", salt, cheap);
    // The reference CLI (Debian's argon2 package), version 0x13, 1 lane, as crypto_pwhash runs it:
    //   echo -n "correct horse battery staple" | argon2 concord-kat-salt -id -t 1 -k 1024 -p 1 -l 32 -r
    expect(toHex(key)).toBe("4d92057aa98f2f41c1a0c03999631736238922663041af16a38550650bd84ba4");
    // "é" composed and decomposed are one passphrase.
    expect(toHex(await deriveKeyFromPassphrase("caf\u00e9", salt, cheap))).toBe(toHex(await deriveKeyFromPassphrase("cafe\u0301", salt, cheap)));
  });

  it("gives the same key for the same passphrase and another for another, with the cost the database was created with", async () => {
    const indexedDB = new IDBFactory();
    const key = await passphraseDeviceKey({ name: "app", indexedDB, passphrase: "open sesame", params: cheap });
    // A later call asking for another cost still derives with the stored one.
    const again = await passphraseDeviceKey({ name: "app", indexedDB, passphrase: "open sesame", params: { opsLimit: 3 } });
    expect(toHex(again)).toBe(toHex(key));
    expect(toHex(await passphraseDeviceKey({ name: "app", indexedDB, passphrase: "open sesame!" }))).not.toBe(toHex(key));
    // Another database has its own salt.
    expect(toHex(await passphraseDeviceKey({ name: "other", indexedDB, passphrase: "open sesame", params: cheap }))).not.toBe(toHex(key));
  });

  it("gives concurrent first calls the same salt, hence the same key", async () => {
    const indexedDB = new IDBFactory();
    const keys = await Promise.all([1, 2, 3].map(() => passphraseDeviceKey({ name: "race", indexedDB, passphrase: "pw", params: cheap })));
    expect(new Set(keys.map(toHex)).size).toBe(1);
  });

  it("derives with the default cost (64 MiB, 2 passes)", async () => {
    const key = await passphraseDeviceKey({ name: "app", indexedDB: new IDBFactory(), passphrase: "pw" });
    expect(key.length).toBe(32);
  });

  it("refuses empty or over-long passphrases and costs out of bounds, and a damaged record", async () => {
    const indexedDB = new IDBFactory();
    expect(await codeOf(passphraseDeviceKey({ name: "app", indexedDB, passphrase: "" }))).toBe("invalid_argument");
    expect(await codeOf(passphraseDeviceKey({ name: "app", indexedDB, passphrase: "x".repeat(4097), params: cheap }))).toBe("invalid_argument");
    expect(await codeOf(passphraseDeviceKey({ name: "app", indexedDB, passphrase: "pw", params: { opsLimit: 0 } }))).toBe("invalid_argument");
    expect(await codeOf(passphraseDeviceKey({ name: "app", indexedDB, passphrase: "pw", params: { memLimitBytes: 2 ** 31 } }))).toBe(
      "invalid_argument",
    );
    await passphraseDeviceKey({ name: "app", indexedDB, passphrase: "pw", params: cheap });
    await alterRecord(indexedDB, "app", "passphrase", (record) => {
      record["salt"] = new Uint8Array(3);
    });
    expect(await codeOf(passphraseDeviceKey({ name: "app", indexedDB, passphrase: "pw" }))).toBe("corrupt_record");
  });

  it("opens the replica with the right passphrase only: a wrong one is refused with wrong_key, and the right one opens after it", async () => {
    const indexedDB = new IDBFactory();
    const open = async (passphrase: string) =>
      openReplica({
        store: createIndexedDbStore({ name: "app", indexedDB, IDBKeyRange }),
        masterKey: await passphraseDeviceKey({ name: "app", indexedDB, passphrase, params: cheap }),
      });
    const replica = await open("right");
    await replica.create("notes", "automerge", { init: { text: "hello" } });
    await replica.close();
    const wrong = open("wrong");
    expect(await codeOf(wrong)).toBe("wrong_key");
    const again = await open("right");
    expect((await again.read("notes")).value).toEqual({ text: "hello" });
    await again.close();
  });
});
