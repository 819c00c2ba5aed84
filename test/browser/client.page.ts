/**
 * A browser app with the sync client, as the README's "Offline apps" shows:
 * an IndexedDB replica with a WebCrypto device key, synced with regions over
 * `concord/client` (the browser's own WebSocket). test/browser/client.test.ts
 * drives it: edit, read, watch the status, reload, dump IndexedDB.
 */
import { initializeWasm } from "@automerge/automerge";
import { connect, type SyncClient, type SyncStatus } from "../../src/client/index.ts";
import { createIndexedDbStore, openReplica, webCryptoDeviceKey, type JsonOp, type Replica } from "../../src/index.ts";
import { startPage } from "./page-api.ts";

let replica: Replica | undefined;
let sync: SyncClient | undefined;
const events: string[] = [];

const opened = () => {
  if (!replica || !sync) throw new Error("call open first");
  return { replica, sync };
};

/** Resolves once `test` holds for the status (checked now and on every change). */
function statusUntil(test: (s: SyncStatus) => boolean): Promise<SyncStatus> {
  const { sync: s } = opened();
  if (test(s.status)) return Promise.resolve(s.status);
  return new Promise((resolve) => {
    const off = s.on("status", (status) => {
      if (!test(status)) return;
      off();
      resolve(status);
    });
  });
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Every key and value of every store of database `name`, as hex of their bytes or their JSON (for the at-rest grep). */
async function dumpHex(name: string): Promise<string[]> {
  const db = await request(indexedDB.open(name));
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const flat = (v: unknown): string => {
    if (v instanceof Uint8Array) return hex(v);
    if (v instanceof ArrayBuffer) return hex(new Uint8Array(v));
    if (ArrayBuffer.isView(v)) return hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    if (v instanceof CryptoKey) return "cryptokey";
    if (Array.isArray(v)) return v.map(flat).join(" ");
    if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => `${hex(new TextEncoder().encode(k))} ${flat(x)}`).join(" ");
    return hex(new TextEncoder().encode(String(v)));
  };
  try {
    const out: string[] = [];
    for (const store of Array.from(db.objectStoreNames)) {
      const os = db.transaction(store, "readonly").objectStore(store);
      const [keys, values] = await Promise.all([request(os.getAllKeys()), request(os.getAll())]);
      keys.forEach((k, i) => out.push(`${flat(k)} ${flat(values[i])}`));
    }
    return out;
  } finally {
    db.close();
  }
}

startPage(async () => {
  await initializeWasm(new URL("automerge.wasm", location.href).href);
  return {
    async open(name: string, regions: string[], token: string, prefix: string) {
      replica = await openReplica({ store: createIndexedDbStore({ name }), masterKey: await webCryptoDeviceKey({ name }), region: "browser" });
      sync = await connect(replica, { regions, token, docs: { prefix }, backoff: { initialMs: 50, maxMs: 500 }, homeRetryMs: 300 });
      sync.on("status", (s) => events.push(`${s.state}${s.home ? "" : " (away)"} pending=${s.pendingWrites}`));
      sync.on("failed-over", () => events.push("failed-over"));
      return sync.status;
    },
    async create(id: string, kind: "yjs" | "automerge") {
      await opened().replica.create(id, kind);
    },
    async patch(id: string, ops: JsonOp[]) {
      return (await opened().replica.patch(id, ops)).token;
    },
    async read(id: string) {
      return (await opened().replica.read(id).catch(() => ({ value: null }))).value;
    },
    status: () => opened().sync.status,
    events: () => events,
    synced: (home?: boolean) => statusUntil((s) => s.state === "synced" && (home === undefined || s.home === home)),
    offline: () => statusUntil((s) => s.state === "offline"),
    drained: () => statusUntil((s) => s.state === "synced" && s.pendingWrites === 0),
    token: (id: string) => opened().sync.token(id) ?? null,
    async close() {
      await sync?.close();
      await replica?.close();
      sync = undefined;
      replica = undefined;
    },
    dump: (name: string) => dumpHex(name),
  };
});
