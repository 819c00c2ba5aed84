/**
 * The embedded library in Node: everything in src/index.ts, plus replicas on
 * the embedded default store (LMDB) in a data directory.
 *
 *   const r = await openReplica({ dir: "./data" });   // key from $CONCORD_MASTER_KEY or DIR/keys/master.key
 */
import { join } from "node:path";
import { openReplica as openReplicaOnStore, type Replica } from "./replica/replica.ts";
import type { ReplicaOptions } from "./replica/types.ts";
import { openLmdbStore } from "./storage/lmdb-store.ts";
import { resolveMasterKey } from "./runtime/master-key.ts";

export * from "./index.ts";
export { openLmdbStore } from "./storage/lmdb-store.ts";
export { createKeyFile, defaultKeyFile, masterKeyEnv, readKeyFile } from "./runtime/master-key.ts";

export type NodeReplicaOptions =
  | ReplicaOptions
  | (Omit<ReplicaOptions, "store" | "masterKey"> & {
      /** Data directory: the LMDB store lives in DIR/store. */
      dir: string;
      /** The master key; else `keyFile`, $CONCORD_MASTER_KEY, or DIR/keys/master.key. */
      masterKey?: Uint8Array;
      keyFile?: string;
    });

/** The store directory inside a data directory. */
export function storePath(dataDir: string): string {
  return join(dataDir, "store");
}

/** Opens a replica on a data directory (LMDB), or on any store given as `store`. */
export async function openReplica(options: NodeReplicaOptions): Promise<Replica> {
  if ("store" in options) return openReplicaOnStore(options);
  const { dir, keyFile, ...rest } = options;
  const masterKey = await resolveMasterKey({ masterKey: options.masterKey, keyFile, dataDir: dir });
  const store = await openLmdbStore({ path: storePath(dir) });
  try {
    return await openReplicaOnStore({ ...rest, store, masterKey });
  } catch (error) {
    await store.close();
    throw error;
  }
}
