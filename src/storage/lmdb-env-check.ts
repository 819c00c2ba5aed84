/**
 * Checks a directory before lmdb-js opens it, in Node. lmdb-js 3.5.6 does not
 * fail cleanly when mdb_env_open() fails: its cleanup (src/env.cpp, openEnv)
 * deletes the env's user context and then reads it again in closeEnv(), and
 * the process dies with SIGSEGV. A non-LMDB or truncated data.mdb, a wrong
 * file-format version or a permission error all take that path. So every
 * failure we can foresee is found here first and reported as a ConcordError,
 * the file's whole structure included: see lmdb-file-check.ts (a truncated or
 * damaged file would otherwise end in SIGBUS or an assertion abort mid-read).
 */
import { constants } from "node:fs";
import { access, mkdir, open, stat } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";
import { takeCleanClose } from "./lmdb-clean-close.ts";
import { checkLmdbFile, LmdbFileDamage, readMetas } from "./lmdb-file-check.ts";

export const lmdbDataFile = "data.mdb";
export const lmdbLockFile = "lock.mdb";

/**
 * Creates `path` if missing, then makes sure it is a readable, writable
 * directory whose data.mdb (if any) is an LMDB file lmdb-js can open.
 * Throws ConcordError("unavailable") for a path that is not a usable
 * directory and ConcordError("corrupt_record") for a data.mdb that is not a
 * valid LMDB file; both messages name the path. Returns how the data file
 * was checked: "none" (no file yet, or an empty one), "walked" (every page)
 * or "clean-close" (its meta pages, and a record that it has not changed
 * since a clean close: see lmdb-clean-close.ts).
 */
export async function checkLmdbDirectory(path: string): Promise<DataFileCheck> {
  const existing = await stat(path).catch((cause: unknown) => {
    if ((cause as { code?: unknown }).code === "ENOENT") return undefined;
    throw new ConcordError("unavailable", `cannot read the LMDB directory ${path}: ${errorText(cause)}`, { cause });
  });
  if (existing && !existing.isDirectory()) {
    throw new ConcordError("unavailable", `${path} is not a directory (an LMDB store is a directory)`);
  }
  if (!existing) {
    try {
      await mkdir(path, { recursive: true });
    } catch (cause) {
      throw new ConcordError("unavailable", `cannot create the LMDB directory ${path}: ${errorText(cause)}`, { cause });
    }
  }
  await checkAccess(path, "the LMDB directory");
  await checkAccess(join(path, lmdbLockFile), "the LMDB lock file", true);
  return checkDataFile(path, join(path, lmdbDataFile));
}

export type DataFileCheck = "none" | "walked" | "clean-close";

async function checkAccess(path: string, what: string, mayBeMissing = false): Promise<void> {
  try {
    await access(path, constants.R_OK | constants.W_OK);
  } catch (cause) {
    if (mayBeMissing && (cause as { code?: unknown }).code === "ENOENT") return;
    throw new ConcordError("unavailable", `${what} ${path} is not readable and writable: ${errorText(cause)}`, { cause });
  }
}

async function checkDataFile(dir: string, file: string): Promise<DataFileCheck> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return "none"; // a new environment
    throw new ConcordError("unavailable", `cannot open the LMDB data file ${file}: ${errorText(cause)}`, { cause });
  }
  try {
    const info = await handle.stat({ bigint: true });
    if (!info.isFile()) throw new ConcordError("unavailable", `the LMDB data file ${file} is not a regular file`);
    if (info.size === 0n) return "none"; // LMDB initialises an empty file like a missing one
    const size = Number(info.size);
    try {
      // The meta pages are always checked; the walk of every page is skipped only after a clean close
      // that left the file exactly as it is now (lmdb-clean-close.ts explains what that trusts).
      const { pages } = await readMetas(handle, size);
      if (await takeCleanClose(dir, info, pages)) return "clean-close";
      await checkLmdbFile(handle, size);
      return "walked";
    } catch (cause) {
      if (!(cause instanceof LmdbFileDamage)) throw cause;
      throw new ConcordError(
        "corrupt_record",
        `${file} is damaged: ${cause.message}. Concord does not open it (LMDB would crash on it). ` +
          `Rebuild it with "concord repair --data DIR [--topology FILE --region ID]" (it keeps every intact document and fetches the rest from the peers), ` +
          `or restore the data directory from a backup`,
        { details: { path: file }, cause },
      );
    }
  } finally {
    await handle.close();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
