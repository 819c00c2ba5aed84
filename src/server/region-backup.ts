/**
 * Backup and restore of one region's data directory (Node). A backup is a
 * snapshot of the store streamed as a sealed archive (src/storage/backup-archive.ts)
 * plus the region's X25519 key sealed under the master key; a running region
 * serves one at GET /v1/admin/backup, and a stopped one can be read in place.
 * A restore rebuilds DIR/store and DIR/keys/region.key in an empty data
 * directory. The master key and tokens.json are configuration: they are never
 * in an archive, so the operator keeps them (a secret store, a config repo).
 *
 * Why a restored region is safe to start: every record in the archive is as
 * it was sealed; frames it sends after the restore carry a boot epoch above
 * any it used before (DocStore.nextEpoch takes the wall clock into account),
 * so its peers do not take them for replays; and anti-entropy brings back
 * every write its peers hold, deletes included (tombstones win).
 */
import { open, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openKeyring } from "../crypto/keyring.ts";
import { lockDataDir, lockFileName } from "../runtime/dir-lock.ts";
import { ConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import { type BackupHeader } from "../storage/backup-archive.ts";
import { readBackup } from "../storage/backup-reader.ts";
import { createBackup } from "../storage/backup-writer.ts";
import { storePath } from "../node.ts";
import { openLmdbStore } from "../storage/lmdb-store.ts";
import type { Store } from "../storage/store.ts";
import type { PostgresStoreOptions } from "../storage/postgres-store.ts";
import { restoreIntoPostgres } from "./region-restore-postgres.ts";
export { refuseUnfinishedRestore } from "./region-restore-postgres.ts";
import type { BackupProvider } from "./admin-routes.ts";
import { bytesEqual } from "../storage/bytes.ts";
import { readRegionKeyFile, regionKeyFile, writeRegionKeyFile } from "./region-key-file.ts";

export interface BackupProviderOptions {
  store: Store;
  masterKey: Uint8Array;
  region: string;
  regionSecretKey?: Uint8Array;
  clock: Clock;
  random: Random;
}

/** Backups of a live store: each call takes a fresh snapshot. */
export function backupProvider(options: BackupProviderOptions): BackupProvider {
  return async () => {
    const { header, chunks, release } = await createBackup({
      snapshot: await options.store.snapshot(),
      masterKey: options.masterKey,
      region: options.region,
      createdAt: options.clock.now(),
      random: options.random,
      ...(options.regionSecretKey ? { regionSecretKey: options.regionSecretKey } : {}),
    });
    return { region: header.region, entries: header.entries, createdAt: header.createdAt, chunks, release };
  };
}

/** Present in a data directory while a restore into PostgreSQL is under way or was interrupted (region-restore-postgres.ts). */
export const postgresRestoreMarker = ".restore-postgres-partial";

/** Files a data directory may hold and still count as empty for a restore. */
const partialRestore = ".restore-partial";
// LOCK: our own lock while restoring, or a stale one.
const allowedInEmpty = new Set(["keys", partialRestore, postgresRestoreMarker, "RESTORED", lockFileName]);

async function checkEmptyDataDir(dataDir: string): Promise<void> {
  const names = await readdir(dataDir).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === "ENOENT") return [] as string[];
    throw new ConcordError("unavailable", `cannot read ${dataDir}: ${cause.message}`, { cause });
  });
  const extra = names.filter((n) => !allowedInEmpty.has(n));
  // region.key may be left by an interrupted restore of the same archive; it is compared with the archive's later.
  const keys = names.includes("keys") ? (await readdir(join(dataDir, "keys"))).filter((n) => n !== "master.key" && n !== "region.key") : [];
  if (extra.length > 0 || keys.length > 0) {
    const found = [...extra, ...keys.map((k) => join("keys", k))].join(", ");
    throw new ConcordError("exists", `${dataDir} is not empty (it holds ${found}); restore only into an empty data directory (keys/master.key may be there)`);
  }
}

export interface RestoreOptions {
  /** The archive's bytes (a file stream, a fetch body). */
  archive: AsyncIterable<Uint8Array>;
  /** The data directory to restore into: missing, empty, or holding only keys/master.key. */
  dataDir: string;
  /** The master key the backup was made under. */
  masterKey: Uint8Array;
  random: Random;
  /** Called as entries land, with the archive's total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Restore into this PostgreSQL store instead of DIR/store (which must then not exist): the way a
   * region moves from LMDB to PostgreSQL. The store must be empty (or hold an interrupted restore).
   */
  postgres?: PostgresStoreOptions;
}

export interface RestoreResult {
  header: BackupHeader;
  /** True when the archive held the region key and it was written to DIR/keys/region.key. */
  regionKeyRestored: boolean;
}

/**
 * Restores an archive into `dataDir`. Entries go into DIR/.restore-partial and
 * move to DIR/store only after every check passed (checksum, mac, keyring),
 * so a damaged archive, a wrong key or an interrupted restore leaves no store
 * behind: run it again. Throws "exists" for a non-empty directory,
 * "wrong_key", "corrupt_record" or "unsupported" for the archive.
 */
export async function restoreRegion(options: RestoreOptions): Promise<RestoreResult> {
  await checkEmptyDataDir(options.dataDir);
  // Held until the store is in place: a region started meanwhile would open a half-restored directory.
  const lock = await lockDataDir(options.dataDir);
  try {
    return await restoreLocked(options);
  } finally {
    await lock.release();
  }
}

async function restoreLocked(options: RestoreOptions): Promise<RestoreResult> {
  const { dataDir } = options;
  await checkEmptyDataDir(dataDir); // again, now that no region can start here
  if (options.postgres) return restoreIntoPostgres(options, options.postgres);
  const partial = join(dataDir, partialRestore);
  await rm(partial, { recursive: true, force: true });
  const store = await openLmdbStore({ path: partial });
  let filled: FilledStore;
  try {
    filled = await fillStore(store, options);
    await store.close();
  } catch (error) {
    await store.close().catch(() => {});
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  await placeRegionKey(dataDir, filled.regionSecretKey);
  try {
    // The marker first: a store in place without it would serve what its peers have deleted since.
    await writeRestoredMarker(dataDir, filled.header);
    await rename(partial, storePath(dataDir));
    await syncDirectory(dataDir);
  } catch (cause) {
    throw new ConcordError("unavailable", `cannot move the restored store into ${storePath(dataDir)}: ${(cause as Error).message}; run the restore again`, { cause });
  }
  return { header: filled.header, regionKeyRestored: filled.regionSecretKey !== undefined };
}

export interface FilledStore {
  header: BackupHeader;
  regionSecretKey: Uint8Array | undefined;
}

/** Reads the whole archive into `store` (checksum, mac, keyring checked); throws before the end on any fault. */
export async function fillStore(store: Store, options: RestoreOptions): Promise<FilledStore> {
  let header: BackupHeader | undefined;
  let regionSecretKey: Uint8Array | undefined;
  let ended = false;
  let done = 0;
  for await (const event of readBackup(options.archive, { masterKey: options.masterKey })) {
    if (event.type === "header") header = event.header;
    else if (event.type === "region-key") {
      regionSecretKey = event.secretKey;
      await checkExistingRegionKey(options.dataDir, regionSecretKey);
    }
    else if (event.type === "entries") {
      await store.write(event.entries.map(([key, value]) => ({ key, value })));
      done += event.entries.length;
      options.onProgress?.(done, header!.entries);
    } else ended = true;
  }
  if (!ended || !header) throw new ConcordError("internal", "the archive reader stopped before its end");
  // The keyring must open with this key: catches an archive that is whole but not a Concord store.
  await openKeyring(store, options.masterKey, options.random);
  return { header, regionSecretKey };
}

/**
 * Key first, store last: the store's arrival is what makes the directory a region. A crash in between
 * leaves the same key and the partial store, and running the restore again finishes.
 */
export async function placeRegionKey(dataDir: string, regionSecretKey: Uint8Array | undefined): Promise<void> {
  if (regionSecretKey && !(await fileExists(regionKeyFile(dataDir)))) await writeRegionKeyFile(regionKeyFile(dataDir), regionSecretKey);
}

export async function writeRestoredMarker(dataDir: string, header: BackupHeader): Promise<void> {
  await writeFile(restoredMarker(dataDir), JSON.stringify({ region: header.region, createdAt: header.createdAt }) + "\n");
}

const fileExists = (path: string) => stat(path).then(() => true, () => false);

/**
 * Present in a data directory restored from a backup until the region has
 * completed one anti-entropy round with a peer. Until then the region is not
 * ready: the archive may hold documents deleted since it was made, and that
 * round is what brings their tombstones (deletes win).
 */
export function restoredMarker(dataDir: string): string {
  return join(dataDir, "RESTORED");
}

/** A region key already in DIR (from an interrupted restore) must be the archive's own. */
async function checkExistingRegionKey(dataDir: string, secretKey: Uint8Array): Promise<void> {
  const path = regionKeyFile(dataDir);
  if (!(await fileExists(path))) return;
  const existing = await readRegionKeyFile(path);
  if (!bytesEqual(existing.secretKey, secretKey)) {
    throw new ConcordError("exists", `${path} holds another region key than the archive's; restore only into an empty data directory`);
  }
}

/** Makes a rename in `dir` durable (Linux and macOS; a no-op where directories cannot be opened). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}
