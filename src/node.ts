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
import { stat } from "node:fs/promises";
import { layout } from "./storage/doc-store-layout.ts";
import { openLmdbStore } from "./storage/lmdb-store.ts";
import { openPostgresStore, type PostgresStoreOptions } from "./storage/postgres-store.ts";
import type { Store } from "./storage/store.ts";
import { lockDataDir, type DirLock } from "./runtime/dir-lock.ts";
import { resolveMasterKey } from "./runtime/master-key.ts";
import { installAutomergeRecovery } from "./runtime/automerge-wasm.ts";
import { sharedVerifierPool } from "./runtime/automerge-verifier-pool.ts";
import type { InternalReplicaOptions } from "./replica/types.ts";

export * from "./index.ts";
export { openLmdbStore } from "./storage/lmdb-store.ts";
export { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from "./storage/postgres-store.ts";
export { createKeyFile, defaultKeyFile, masterKeyEnv, readKeyFile } from "./runtime/master-key.ts";
export { lockDataDir, lockFile, type DirLock } from "./runtime/dir-lock.ts";

export type NodeReplicaOptions =
  | ReplicaOptions
  | (Omit<ReplicaOptions, "store" | "masterKey"> & {
      /** Data directory: the LMDB store lives in DIR/store (unless `postgres` is given). */
      dir: string;
      /**
       * Keep the documents in PostgreSQL instead: DIR then holds only keys and configuration, and
       * must not hold an LMDB store (move one with backup and restore).
       */
      postgres?: PostgresStoreOptions;
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
export async function openDataDir(options: Exclude<NodeReplicaOptions, ReplicaOptions>): Promise<OpenDataDir> {
  installAutomergeRecovery();
  const { dir, keyFile, lock: given, postgres, ...rest } = options;
  // The lock comes first: a second process must not even bump the boot epoch (peers would then take
  // the first process's frames for replays).
  const lock = given ?? (await lockDataDir(dir));
  let store: Store | undefined;
  try {
    const masterKey = await resolveMasterKey({ masterKey: options.masterKey, keyFile, dataDir: dir });
    const opened = await openStore(dir, postgres);
    store = releasingOnClose(opened.store, lock);
    return { replica: await openReplicaOnStore(withVerifier({ ...rest, store, masterKey })), store, masterKey, storeCreated: opened.created };
  } catch (error) {
    if (store) await store.close();
    else await lock.release();
    // A store-wide record (the keyring, say) that fails its checks: say where, and the way out.
    if (isConcordError(error, "corrupt_record")) {
      const where = postgres ? "the PostgreSQL store" : `the store in ${storePath(dir)}`;
      throw new ConcordError("corrupt_record", `${where} is damaged: ${error.message}. Rebuild it with "concord repair --data ${dir}", or restore it from a backup`, { cause: error, details: { path: storePath(dir) } });
    }
    throw error;
  }
}

export interface OpenDataDir {
  replica: Replica;
  store: Store;
  masterKey: Uint8Array;
  /** True when the store did not exist before this open (a new region, or a wiped store). */
  storeCreated: boolean;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** DIR/store on LMDB, or the PostgreSQL store; says whether it was created now. */
async function openStore(dir: string, postgres: PostgresStoreOptions | undefined): Promise<{ store: Store; created: boolean }> {
  const lmdbExists = await exists(storePath(dir));
  if (!postgres) return { store: await openLmdbStore({ path: storePath(dir) }), created: !lmdbExists };
  if (lmdbExists && (await holdsDocuments(storePath(dir)))) {
    throw new ConcordError("exists", `${storePath(dir)} holds an LMDB store with documents, but this region is to run on PostgreSQL: a region on PostgreSQL keeps only keys in its data directory. Move the documents with "concord backup --data ${dir}" then "concord restore --store postgres://…", and remove ${storePath(dir)}`);
  }
  const store = await openPostgresStore(postgres);
  return { store, created: store.created };
}

/**
 * Whether the LMDB store at `path` holds any document (metadata or a tombstone). "concord keys init"
 * leaves a store holding only the keyring there; a region moving to PostgreSQL may ignore that one.
 */
async function holdsDocuments(path: string): Promise<boolean> {
  const store = await openLmdbStore({ path });
  try {
    for (const prefix of [layout.metaPrefix(), layout.tombstonePrefix()]) for await (const _ of store.scan(prefix)) return true;
    return false;
  } finally {
    await store.close();
  }
}

/** The store, whose close() also releases the directory lock (after the store is closed: never two owners). */
function releasingOnClose(store: Store, lock: DirLock): Store {
  return {
    get: (key) => store.get(key),
    write: (batch, options) => store.write(batch, options),
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
