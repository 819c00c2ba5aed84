/**
 * The re-keying rotation of a data directory (`concord keys rotate`, the
 * default): the store is copied under a new master key into a fresh LMDB file
 * (src/storage/store-rekey.ts: new index secret, new data keys, every record
 * sealed again), the fresh file replaces the old one in one rename, the key
 * file moves over, and the old file is overwritten with zeros and deleted. No
 * page of the new file ever held an old record, and the old file is gone, so
 * nothing in the directory opens under the old master key or an old data key.
 *
 * On disk, in DIR:
 *   store/data.mdb        the live store: the old one until the swap, the new one after
 *   store-rekeying/       the copy under way (resumed, not restarted, after a crash)
 *   store-retired.mdb     a second name for the old file, taken just before the swap
 *                         so it can be shredded after it
 * Every step can be interrupted at any point and the next run finishes it:
 *   copy    → the live store is untouched; the copy resumes
 *   swap    → store-retired.mdb is a link to the live file (unlinked, never
 *             shredded), or the rename happened (the live store opens with
 *             the new key only)
 *   key     → until FILE.new is renamed over FILE, the region refuses to start
 *             with wrong_key naming both key ids: run the rotation again
 *   shred   → a retired file that is not the live one is shredded first
 * The caller holds the data-directory lock throughout.
 */
import { link, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { masterKeyId } from "../crypto/keyring.ts";
import { loadSodium } from "../crypto/sodium.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { storePath } from "../node.ts";
import type { Random } from "../runtime/random.ts";
import { syncDirectory } from "../server/region-backup.ts";
import { toHex } from "../storage/bytes.ts";
import { layout } from "../storage/doc-store-layout.ts";
import { openLmdbStore } from "../storage/lmdb-store.ts";
import { rekeyStore, type RekeyReport } from "../storage/store-rekey.ts";
import type { Store } from "../storage/store.ts";

/** Points after which a test can make the rotation "crash" (see `afterStep`). */
export type RekeyStep = "copied" | "linked" | "swapped" | "key-moved" | "shredded";

export interface RekeyRotationOptions {
  dataDir: string;
  oldKey: Uint8Array;
  newKey: Uint8Array;
  /** The new key's file and where it goes once the store is swapped; absent: the caller keeps the key elsewhere. */
  moveKey?: { from: string; to: string };
  random: Random;
  onProgress?: (done: number, total: number) => void;
  /** Tests only: runs after each step; throwing there is a crash at that point. */
  afterStep?: (step: RekeyStep) => Promise<void> | void;
}

export interface RekeyOutcome {
  /** The copy's report; undefined when an earlier run had already swapped the store. */
  copied: RekeyReport | undefined;
  /** Bytes of old store file overwritten with zeros (this run). */
  shreddedBytes: number;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** The parts of DIR the rotation uses. */
export function rekeyPaths(dataDir: string) {
  const store = storePath(dataDir);
  return { store, data: join(store, "data.mdb"), lock: join(store, "lock.mdb"), fresh: `${store}-rekeying`, retired: join(dataDir, "store-retired.mdb") };
}

/**
 * What a retired file left by an interrupted rotation is: none, a second name
 * of the live file (taken just before a swap that did not happen), or the old
 * store file (the swap happened).
 */
export async function retiredFile(dataDir: string): Promise<"none" | "live" | "old"> {
  const paths = rekeyPaths(dataDir);
  const retired = await stat(paths.retired).catch(() => undefined);
  if (!retired) return "none";
  const live = await stat(paths.data).catch(() => undefined);
  return live && live.ino === retired.ino && live.dev === retired.dev ? "live" : "old";
}

/** Overwrites a file with zeros, syncs, deletes it; its size. */
async function shredFile(path: string): Promise<number> {
  const handle = await open(path, "r+");
  let size: number;
  try {
    size = (await handle.stat()).size;
    const zeros = Buffer.alloc(1 << 20);
    for (let at = 0; at < size; at += zeros.length) await handle.write(zeros, 0, Math.min(zeros.length, size - at), at);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rm(path);
  await syncDirectory(dirname(path));
  return size;
}

/** Deals with a retired file left by an interrupted run: unlinks a live one, shreds an old one; bytes shredded. */
export async function clearRetired(dataDir: string): Promise<number> {
  const kind = await retiredFile(dataDir);
  if (kind === "none") return 0;
  const { retired } = rekeyPaths(dataDir);
  if (kind === "live") {
    await rm(retired);
    return 0;
  }
  return shredFile(retired);
}

async function keyringIds(store: Store): Promise<string[]> {
  const ids: string[] = [];
  for await (const [key] of store.scan(layout.keyringPrefix())) ids.push(toHex(key.subarray(1)));
  return ids;
}

/** The copy into store-rekeying/ (resumed if there); a copy under another key is dropped and started over. */
async function copyStore(live: Store, options: RekeyRotationOptions): Promise<RekeyReport> {
  const { fresh } = rekeyPaths(options.dataDir);
  for (let attempt = 0; ; attempt++) {
    const into = await openLmdbStore({ path: fresh });
    try {
      return await rekeyStore(live, into, options.oldKey, options.newKey, options.random, options.onProgress ? { onProgress: options.onProgress } : {});
    } catch (error) {
      // A copy begun with another new key (its key file was lost): it holds nothing the live store lacks.
      const ids = await keyringIds(into);
      const foreign = ids.length > 0 && !ids.includes(toHex(masterKeyId(options.newKey)));
      if (attempt > 0 || !foreign || !isConcordError(error, "wrong_key")) throw error;
    } finally {
      await into.close();
    }
    await rm(fresh, { recursive: true, force: true });
  }
}

/** Replaces the live file with the copy in one rename, keeping a name for the old one. */
async function swap(options: RekeyRotationOptions): Promise<void> {
  const paths = rekeyPaths(options.dataDir);
  if (!(await exists(paths.retired))) await link(paths.data, paths.retired);
  await syncDirectory(options.dataDir);
  await options.afterStep?.("linked");
  // The reader table belongs to the old file's environment; LMDB makes a new one at the next open.
  await rm(paths.lock, { force: true });
  await rename(join(paths.fresh, "data.mdb"), paths.data);
  await syncDirectory(paths.store);
  await rm(paths.fresh, { recursive: true, force: true });
  await syncDirectory(options.dataDir);
}

/**
 * Runs (or finishes) the re-keying rotation of `dataDir` (see the file
 * header). Throws ConcordError "wrong_key" when neither key opens the store,
 * "invalid_argument" when a --rewrap-only rotation is halfway, and whatever
 * rekeyStore throws (a damaged document: "corrupt_record").
 */
export async function rekeyDataDir(options: RekeyRotationOptions): Promise<RekeyOutcome> {
  await loadSodium();
  const paths = rekeyPaths(options.dataDir);
  let shreddedBytes = await clearRetired(options.dataDir);
  const oldId = toHex(masterKeyId(options.oldKey));
  const newId = toHex(masterKeyId(options.newKey));
  let copied: RekeyReport | undefined;
  const live = await openLmdbStore({ path: paths.store });
  let swapNeeded: boolean;
  try {
    const ids = await keyringIds(live);
    if (ids.length > 1) {
      // Checked before store-rekeying/ exists: that directory would make --rewrap-only refuse to finish.
      throw new ConcordError("invalid_argument", `the store in ${paths.store} is halfway through a rewrap (keyrings ${ids.join(", ")}): finish it with "concord keys rotate --rewrap-only" first`);
    }
    swapNeeded = ids[0] === oldId;
    if (!swapNeeded && ids[0] !== newId) {
      throw new ConcordError("wrong_key", `the store in ${paths.store} is under master key id ${ids.join(", ") || "(none)"}, neither the old key (${oldId}) nor the new one (${newId})`);
    }
    if (swapNeeded) copied = await copyStore(live, options);
  } finally {
    await live.close();
  }
  if (swapNeeded) {
    await options.afterStep?.("copied");
    await swap(options);
  } else {
    await rm(paths.fresh, { recursive: true, force: true }); // swapped by an earlier run, which stopped before this
  }
  await options.afterStep?.("swapped");
  if (options.moveKey && (await exists(options.moveKey.from))) {
    await rename(options.moveKey.from, options.moveKey.to);
    await syncDirectory(dirname(options.moveKey.to));
  }
  await options.afterStep?.("key-moved");
  shreddedBytes += await clearRetired(options.dataDir);
  await options.afterStep?.("shredded");
  return { copied, shreddedBytes };
}
