/**
 * An embedded replica in a browser page, as an app would write it: the
 * browser entry (src/index.ts), an IndexedDB store and a device key from
 * IndexedDB, Automerge's slim build with automerge.wasm loaded beside the
 * bundle. test/browser/replica.test.ts drives it: write, reload, read, and
 * dump every IndexedDB database of the origin for the at-rest grep.
 */
import { initializeWasm } from "@automerge/automerge";
import { createIndexedDbStore, openReplica, passphraseDeviceKey, webCryptoDeviceKey, type Replica } from "../../src/index.ts";
import { startPage } from "./page-api.ts";

/** How the page gets its master key: the WebCrypto-wrapped random key, or a passphrase. */
type KeySource = { webCrypto: true } | { passphrase: string };

/** A value from IndexedDB in a form that crosses to Node: bytes as hex, CryptoKeys described (their bytes cannot be read). */
type Dumped =
  | { bytes: string }
  | { string: string }
  | { number: number }
  | { boolean: boolean }
  | { null: true }
  | { cryptoKey: { type: string; extractable: boolean; algorithm: string } }
  | { array: Dumped[] }
  | { object: Array<[string, Dumped]> }
  | { other: string };

let replica: Replica | undefined;

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function dumpValue(value: unknown): Dumped {
  if (value instanceof Uint8Array) return { bytes: hex(value) };
  if (value instanceof ArrayBuffer) return { bytes: hex(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) return { bytes: hex(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  if (typeof value === "string") return { string: value };
  if (typeof value === "number") return { number: value };
  if (typeof value === "boolean") return { boolean: value };
  if (value === null || value === undefined) return { null: true };
  if (value instanceof CryptoKey) return { cryptoKey: { type: value.type, extractable: value.extractable, algorithm: value.algorithm.name } };
  if (Array.isArray(value)) return { array: value.map(dumpValue) };
  if (typeof value === "object") return { object: Object.entries(value).map(([k, v]) => [k, dumpValue(v)]) };
  return { other: String(value) };
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Every record of every object store of the database `name`, read through IndexedDB itself. */
async function dumpDatabase(name: string): Promise<Array<{ store: string; key: Dumped; value: Dumped }>> {
  const db = await request(indexedDB.open(name));
  try {
    const out: Array<{ store: string; key: Dumped; value: Dumped }> = [];
    for (const storeName of Array.from(db.objectStoreNames)) {
      const store = db.transaction(storeName, "readonly").objectStore(storeName);
      const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
      keys.forEach((key, i) => out.push({ store: storeName, key: dumpValue(key), value: dumpValue(values[i]) }));
    }
    return out;
  } finally {
    db.close();
  }
}

async function masterKeyFor(name: string, key: KeySource): Promise<Uint8Array> {
  return "passphrase" in key ? passphraseDeviceKey({ name, passphrase: key.passphrase }) : webCryptoDeviceKey({ name });
}

function open(): Replica {
  if (!replica) throw new Error("no replica is open in this page");
  return replica;
}

startPage(async () => {
  await initializeWasm(new URL("automerge.wasm", location.href).href);
  return {
    async open(name: string, key: KeySource) {
      replica = await openReplica({ store: createIndexedDbStore({ name }), masterKey: await masterKeyFor(name, key), region: "browser" });
    },

    /** A Yjs document holding `text` and an Automerge one holding it under `note`, edited the README's ways. */
    async write(id: string, text: string) {
      const r = open();
      await r.create(id, "yjs");
      await r.change(id, (doc: { getText(name: string): { insert(index: number, text: string): void } }) => doc.getText("body").insert(0, text));
      await r.create(`${id}-am`, "automerge", { init: { notes: [] } });
      await r.change(`${id}-am`, (doc: { notes: string[] }) => void doc.notes.push(text));
      await r.patch(`${id}-am`, [{ op: "set", path: ["title"], value: text }]);
    },

    async read(id: string) {
      return (await open().read(id)).value;
    },

    async list() {
      const ids: string[] = [];
      for await (const id of open().list({ limit: 1000 })) ids.push(id);
      return ids;
    },

    async close() {
      await replica?.close();
      replica = undefined;
    },

    /** Every database of this origin, dumped record by record. */
    async dumpAll() {
      const names = (await indexedDB.databases()).map((d) => d.name).filter((n): n is string => typeof n === "string");
      return Promise.all(names.map(async (name) => ({ name, records: await dumpDatabase(name) })));
    },

    /** The positive control of the grep: `text` stored as it is, as a string and as UTF-8 bytes, in a database of its own. */
    async writePlain(name: string, id: string, text: string) {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open(name, 1);
        req.onupgradeneeded = () => req.result.createObjectStore("plain");
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const tx = db.transaction("plain", "readwrite");
      tx.objectStore("plain").put({ text, bytes: new TextEncoder().encode(text) }, id);
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onabort = () => reject(tx.error);
      });
      db.close();
    },
  };
});
