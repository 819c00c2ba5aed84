/**
 * Checks a directory before lmdb-js opens it, in Node. lmdb-js 3.5.6 does not
 * fail cleanly when mdb_env_open() fails: its cleanup (src/env.cpp, openEnv)
 * deletes the env's user context and then reads it again in closeEnv(), and
 * the process dies with SIGSEGV. A non-LMDB or truncated data.mdb, a wrong
 * file-format version or a permission error all take that path. So every
 * failure we can foresee is found here first and reported as a ConcordError.
 *
 * The meta page layout checked below is LMDB's (mdb.c: MDB_page_header, then
 * MDB_meta), on a 64-bit little-endian build:
 *   byte 18  u16 page flags, P_META (0x08) set on a meta page
 *   byte 24  u32 magic 0xBEEFC0DE
 *   byte 28  u32 version, low 16 bits = MDB_DATA_VERSION (2)
 *   byte 48  u32 page size (mm_dbs[FREE_DBI].md_pad)
 * and a valid file holds at least the two meta pages.
 */
import { constants } from "node:fs";
import { access, mkdir, open, stat } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";

export const lmdbDataFile = "data.mdb";
export const lmdbLockFile = "lock.mdb";

const metaFlagsOffset = 18;
const metaPageFlag = 0x08;
const magicOffset = 24;
const magic = 0xbeefc0de;
const versionOffset = 28;
const dataVersion = 2;
const pageSizeOffset = 48;
const headerBytes = 52;

/**
 * Creates `path` if missing, then makes sure it is a readable, writable
 * directory whose data.mdb (if any) is an LMDB file lmdb-js can open.
 * Throws ConcordError("unavailable") for a path that is not a usable
 * directory and ConcordError("corrupt_record") for a data.mdb that is not a
 * valid LMDB file; both messages name the path.
 */
export async function checkLmdbDirectory(path: string): Promise<void> {
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
  await checkDataFile(join(path, lmdbDataFile));
}

async function checkAccess(path: string, what: string, mayBeMissing = false): Promise<void> {
  try {
    await access(path, constants.R_OK | constants.W_OK);
  } catch (cause) {
    if (mayBeMissing && (cause as { code?: unknown }).code === "ENOENT") return;
    throw new ConcordError("unavailable", `${what} ${path} is not readable and writable: ${errorText(cause)}`, { cause });
  }
}

async function checkDataFile(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return; // a new environment
    throw new ConcordError("unavailable", `cannot open the LMDB data file ${file}: ${errorText(cause)}`, { cause });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new ConcordError("unavailable", `the LMDB data file ${file} is not a regular file`);
    if (info.size === 0) return; // LMDB initialises an empty file like a missing one
    const header = new Uint8Array(headerBytes);
    const { bytesRead } = await handle.read(header, 0, headerBytes, 0);
    const view = new DataView(header.buffer);
    const corrupt = (why: string): ConcordError =>
      new ConcordError("corrupt_record", `${file} is not an LMDB data file this build can open: ${why}`, {
        details: { path: file },
      });
    if (bytesRead < headerBytes) throw corrupt(`only ${info.size} bytes long`);
    if ((view.getUint16(metaFlagsOffset, true) & metaPageFlag) === 0) throw corrupt("the first page is not a meta page");
    if (view.getUint32(magicOffset, true) !== magic) throw corrupt("bad magic number");
    const version = view.getUint32(versionOffset, true) & 0xffff;
    if (version !== dataVersion) throw corrupt(`format version ${version}, expected ${dataVersion}`);
    const pageSize = view.getUint32(pageSizeOffset, true);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw corrupt(`bad page size ${pageSize}`);
    if (info.size < 2 * pageSize) throw corrupt(`truncated to ${info.size} bytes, less than its two meta pages`);
  } finally {
    await handle.close();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
