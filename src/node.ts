/**
 * The embedded library in Node: everything in src/index.ts, plus replicas on
 * the embedded default store (LMDB) in a data directory.
 *
 *   const r = await openReplica({ dir: "./data" });   // key from $CONCORD_MASTER_KEY or DIR/keys/master.key
 */
import { join } from "node:path";
import { ConcordError, isConcordError } from "./errors.ts";
import { openReplica as openReplicaOnStore, type Replica } from "./replica/replica.ts";
import type { ReplicaOptions } from "./replica/types.ts";
import { openLmdbStore } from "./storage/lmdb-store.ts";
import type { Store } from "./storage/store.ts";
import { lockDataDir, type DirLock } from "./runtime/dir-lock.ts";
import { resolveMasterKey } from "./runtime/master-key.ts";
import { installAutomergeRecovery } from "./runtime/automerge-wasm.ts";
import { sharedVerifierPool } from "./runtime/automerge-verifier-pool.ts";
import type { InternalReplicaOptions } from "./replica/types.ts";

export * from "./index.ts";
export { openLmdbStore } from "./storage/lmdb-store.ts";
export { createKeyFile, defaultKeyFile, masterKeyEnv, readKeyFile } from "./runtime/master-key.ts";
export { lockDataDir, lockFile, type DirLock } from "./runtime/dir-lock.ts";

export type NodeReplicaOptions =
  | ReplicaOptions
  | (Omit<ReplicaOptions, "store" | "masterKey"> & {
      /** Data directory: the LMDB store lives in DIR/store. */
      dir: string;
      /** The master key; else `keyFile`, $CONCORD_MASTER_KEY, or DIR/keys/master.key. */
      masterKey?: Uint8Array;
      keyFile?: string;
      /**
       * The directory's lock, when the caller took it already (lockDataDir); else it is taken here.
       * Either way it is released when the replica closes, or when opening fails.
       */
      lock?: DirLock;
    });

/** The store directory inside a data directory. */
export function storePath(dataDir: string): string {
  return join(dataDir, "store");
}

/** Opens a replica on a data directory (LMDB), or on any store given as `store`. */
export async function openReplica(options: NodeReplicaOptions): Promise<Replica> {
  // In Node, an Automerge wasm trap rebuilds the module (documents reload from the store) instead of killing the engine.
  installAutomergeRecovery();
  if ("store" in options) return openReplicaOnStore(withVerifier(options));
  return (await openDataDir(options)).replica;
}

/**
 * A replica on a data directory, with the store and master key it was opened
 * with (a server also backs the store up, sealed under that key). The replica
 * owns the store: closing it closes the store and releases the directory's
 * lock. Throws ConcordError "locked" while another live process holds DIR.
 */
export async function openDataDir(options: Exclude<NodeReplicaOptions, ReplicaOptions>): Promise<{ replica: Replica; store: Store; masterKey: Uint8Array }> {
  installAutomergeRecovery();
  const { dir, keyFile, lock: given, ...rest } = options;
  // The lock comes first: a second process must not even bump the boot epoch (peers would then take
  // the first process's frames for replays).
  const lock = given ?? (await lockDataDir(dir));
  let store: Store | undefined;
  try {
    const masterKey = await resolveMasterKey({ masterKey: options.masterKey, keyFile, dataDir: dir });
    store = releasingOnClose(await openLmdbStore({ path: storePath(dir) }), lock);
    return { replica: await openReplicaOnStore(withVerifier({ ...rest, store, masterKey })), store, masterKey };
  } catch (error) {
    if (store) await store.close();
    else await lock.release();
    // A store-wide record (the keyring, say) that fails its checks: say where, and the way out.
    if (isConcordError(error, "corrupt_record")) {
      throw new ConcordError("corrupt_record", `the store in ${storePath(dir)} is damaged: ${error.message}. Rebuild it with "concord repair --data ${dir}", or restore it from a backup`, { cause: error, details: { path: storePath(dir) } });
    }
    throw error;
  }
}

/** The store, whose close() also releases the directory lock (after the store is closed: never two owners). */
function releasingOnClose(store: Store, lock: DirLock): Store {
  return {
    get: (key) => store.get(key),
    write: (batch) => store.write(batch),
    scan: (prefix) => store.scan(prefix),
    snapshot: () => store.snapshot(),
    async close() {
      try {
        await store.close();
      } finally {
        await lock.release();
      }
    },
  };
}

/** In Node, large Automerge deltas are checked on a worker thread (src/runtime/automerge-verifier-pool.ts), not the event loop. */
function withVerifier(options: ReplicaOptions): ReplicaOptions {
  const internal: InternalReplicaOptions = { changeVerifier: sharedVerifierPool(), ...options };
  return internal;
}
