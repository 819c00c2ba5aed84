/**
 * Restoring a backup archive into a PostgreSQL store: how a region moves from
 * LMDB to PostgreSQL (back up the LMDB region, restore into PostgreSQL), or
 * comes back from a backup while on PostgreSQL.
 *
 * LMDB restores build the store aside and rename it into place; a database
 * has no such rename across the Store interface, so the guard is a marker
 * file in the data directory instead: written before the first entry lands,
 * removed once the whole archive is in and its keyring opened. While it is
 * there the region refuses to start (the store may hold half an archive),
 * and running the restore again empties the store and starts over. A failed
 * restore empties the store at once when it can.
 */
import { rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";
import { openPostgresStore, type PostgresStoreOptions } from "../storage/postgres-store.ts";
import type { Store, StoreWrite } from "../storage/store.ts";
import { fillStore, placeRegionKey, postgresRestoreMarker, syncDirectory, writeRestoredMarker, type RestoreOptions, type RestoreResult } from "./region-backup.ts";

const fileExists = (path: string) => stat(path).then(() => true, () => false);

/** Throws ConcordError("unavailable") when a restore into this region's PostgreSQL store did not finish. */
export async function refuseUnfinishedRestore(dataDir: string): Promise<void> {
  if (await fileExists(join(dataDir, postgresRestoreMarker))) {
    throw new ConcordError("unavailable", `a restore into this region's PostgreSQL store did not finish (${join(dataDir, postgresRestoreMarker)} is there): run "concord restore" again before starting it`);
  }
}

export async function restoreIntoPostgres(options: RestoreOptions, postgres: PostgresStoreOptions): Promise<RestoreResult> {
  const { dataDir } = options;
  const marker = join(dataDir, postgresRestoreMarker);
  const store = await openPostgresStore(postgres);
  try {
    if (await fileExists(marker)) await emptyStore(store);
    else if (!(await isEmpty(store))) {
      throw new ConcordError("exists", `${store.where} is not empty: restore only into an empty store (a new schema: ?schema=NAME in the URL)`);
    }
    await writeFile(marker, `restore into ${store.where} under way\n`);
    await syncDirectory(dataDir);
    let filled;
    try {
      filled = await fillStore(store, options);
    } catch (error) {
      // Leaves the marker when the store cannot be emptied now (PostgreSQL down): the next run empties it.
      if (await emptyStore(store).then(() => true, () => false)) await rm(marker, { force: true });
      throw error;
    }
    await placeRegionKey(dataDir, filled.regionSecretKey);
    // RESTORED before the marker goes: the store must not serve what its peers deleted since the backup.
    await writeRestoredMarker(dataDir, filled.header);
    await rm(marker, { force: true });
    await syncDirectory(dataDir);
    return { header: filled.header, regionKeyRestored: filled.regionSecretKey !== undefined };
  } finally {
    await store.close();
  }
}

async function isEmpty(store: Store): Promise<boolean> {
  for await (const _ of store.scan(new Uint8Array(0))) return false;
  return true;
}

/** Deletes every entry, in bounded batches. */
async function emptyStore(store: Store): Promise<void> {
  let batch: StoreWrite[] = [];
  for await (const [key] of store.scan(new Uint8Array(0))) {
    batch.push({ key });
    if (batch.length === 1000) {
      await store.write(batch);
      batch = [];
    }
  }
  await store.write(batch);
}
