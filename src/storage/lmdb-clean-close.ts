/**
 * A clean-close record: lets a clean restart of a large LMDB store skip the
 * full file walk (lmdb-file-check.ts), which reads every page: ~0.3 s per
 * 100k documents even when fast, so seconds at 1M (issue 11 wants the first
 * read within 2 s at 1M).
 *
 * After lmdb-js has closed the environment, the store writes STORE/clean-close.json
 * naming the data file exactly as it was left: device, inode, size, mtime
 * and ctime in nanoseconds, and a hash of its two meta pages. The next open
 * takes the record (deletes it, before LMDB maps the file, so a crash of that
 * run leaves none) and skips the walk only when all of it still matches the
 * file; the meta pages are checked in full either way. Anything else — no
 * record, a crash, a copy or restore, a file renamed in, a record that does
 * not parse — walks the file as before.
 *
 * The trust trade-off (issue 9: a damaged file must be refused, never crash
 * the process or serve wrong data):
 * - Every write to the file through the file system sets its ctime to the
 *   current time, and no system call sets ctime to a chosen value. The record
 *   is kept only once its own ctime is later than the data file's (see
 *   `recordCleanClose`), so a later write, however soon, shows as a changed
 *   ctime. This is git's "racy clean" rule: a file changed in the same clock
 *   tick as its record would otherwise look unchanged.
 * - Not caught: damage that bypasses the file system (media rot the disk does
 *   not report, writes to the raw block device) and a file rewritten by
 *   someone who also sets the clock back to the recorded ctime (root). Such a
 *   file may crash LMDB once; that run took the record, so the restart walks
 *   the whole file and refuses it with the way out (concord repair). Values
 *   are sealed and bound to their place, so damage inside a record is still
 *   corrupt_record, never served.
 * - The record is not keyed: whoever could forge it undetected can already
 *   rewrite ctime, which needs root, and root can read the master key file.
 *   No hash of the whole file either: checking it at open costs a full read,
 *   the very cost the record saves.
 * Nothing user-written is in the record (file metadata and a hash of the meta pages).
 */
import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { ConcordError } from "../errors.ts";
import { readMetas } from "./lmdb-file-check.ts";

export const cleanCloseFile = "clean-close.json";
const recordVersion = 1;
/** A record written in the data file's ctime tick is rewritten after this wait, at most `racyTries` times. */
const racyWaitMs = 2;
const racyTries = 20;

/** What the record holds: the data file as the closing process left it. */
interface CleanCloseRecord {
  version: number;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  metaSha256: string;
}

function describeFile(stats: BigIntStats, metaPages: Uint8Array): CleanCloseRecord {
  return {
    version: recordVersion,
    dev: String(stats.dev),
    ino: String(stats.ino),
    size: String(stats.size),
    mtimeNs: String(stats.mtimeNs),
    ctimeNs: String(stats.ctimeNs),
    metaSha256: createHash("sha256").update(metaPages).digest("hex"),
  };
}

const sameRecord = (a: CleanCloseRecord, b: CleanCloseRecord) =>
  (Object.keys(b) as Array<keyof CleanCloseRecord>).every((field) => a[field] === b[field]);

/**
 * At open, before LMDB maps the file: true when the record left by a clean
 * close still describes `stats` and `metaPages` (both meta pages' bytes).
 * Removes the record in every case, so the run that follows has to leave a
 * new one by closing cleanly. Throws ConcordError("unavailable") only when an
 * existing record cannot be removed.
 */
export async function takeCleanClose(dir: string, stats: BigIntStats, metaPages: Uint8Array): Promise<boolean> {
  const path = join(dir, cleanCloseFile);
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined) return false;
  let clean = false;
  try {
    const record = JSON.parse(text) as CleanCloseRecord;
    const recordStats = await stat(path, { bigint: true });
    // Racy: a write to the data file in the tick the record was written in could leave the same ctime.
    const racy = recordStats.ctimeNs <= BigInt(record.ctimeNs);
    clean = !racy && sameRecord(record, describeFile(stats, metaPages));
  } catch {
    clean = false; // an unreadable record is no record: walk the file
  }
  await unlink(path).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === "ENOENT") return;
    throw new ConcordError("unavailable", `cannot remove ${path}: ${cause.message}`, { cause });
  });
  return clean;
}

/**
 * After a clean close: records the data file `dataFile` in `dir` if its meta
 * pages pass their check (lmdb-file-check.ts). Best effort: a record not
 * written only makes the next open walk the file, so failures are
 * swallowed. A record whose ctime cannot be made later than the data file's
 * is removed.
 */
export async function recordCleanClose(dir: string, dataFile: string): Promise<void> {
  const path = join(dir, cleanCloseFile);
  const temporary = `${path}.tmp`;
  try {
    const record = await describeClosedFile(dataFile);
    for (let attempt = 0; attempt < racyTries; attempt++) {
      await writeFile(temporary, JSON.stringify(record));
      await rename(temporary, path);
      if ((await stat(path, { bigint: true })).ctimeNs > BigInt(record.ctimeNs)) return;
      await delay(racyWaitMs); // the file system's clock has not moved on since the data file's last change
    }
    await unlink(path);
  } catch {
    await unlink(temporary).catch(() => {});
  }
}

async function describeClosedFile(dataFile: string): Promise<CleanCloseRecord> {
  const handle = await open(dataFile, "r");
  try {
    const stats = await handle.stat({ bigint: true });
    const { pages } = await readMetas(handle, Number(stats.size));
    return describeFile(stats, pages);
  } finally {
    await handle.close();
  }
}
