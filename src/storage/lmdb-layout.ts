/**
 * LMDB's on-disk layout, as far as the file check (lmdb-file-check.ts) reads
 * it: lmdb-js 3.x's LMDB, mdb.c, 64-bit little-endian.
 *
 * A page header is pgno u64 @0, txnid u64 @8, pad u16 @16, flags u16 @18,
 * lower u16 @20, upper u16 @22 (an overflow page's page count is the u32
 * @20), then u16 node offsets; lower, upper and offsets count from the end of
 * the header. A meta page's MDB_meta starts at 24: magic @24, version @28,
 * mapsize @40, two MDB_db of 48 bytes @48 (pad = page size, flags, depth,
 * branch/leaf/overflow page counts, entries, root), last page @144, txnid
 * @152. A node is lo u16, hi u16, flags u16, ksize u16, key, data: on a branch
 * page lo|hi<<16|flags<<32 is the child page; on a leaf lo|hi<<16 is the data
 * size, flag 0x01 puts the data on overflow pages (an 8-byte page number),
 * 0x02 makes it a sub-database (an MDB_db).
 */

export const pageHeaderBytes = 24;
export const nodeHeaderBytes = 8;
export const dbBytes = 48;
export const invalidPage = 2 ** 64 - 1;
export const pageFlags = { branch: 0x01, leaf: 0x02, overflow: 0x04, meta: 0x08, leaf2: 0x20, subPage: 0x40 } as const;
export const nodeFlags = { bigData: 0x01, subData: 0x02, dupData: 0x04 } as const;
const metaMagic = 0xbeefc0de;
const dataVersion = 2;

/** What the file says about itself: the meta LMDB will use. */
export interface LmdbMeta {
  pageSize: number;
  lastPage: number;
  txnid: number;
  mapSize: number;
}

/** One B+tree's record (an MDB_db). */
export interface TreeInfo {
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  entries: number;
  root: number;
}

/** A meta page as read: the meta and its two trees (free space, main). */
export type MetaPage = LmdbMeta & { trees: [TreeInfo, TreeInfo] };

/** A problem found in the file; the caller wraps it with the path and the way out. */
export class LmdbFileDamage extends Error {}

/** A u64 as a number: exact up to 2^53, which every page number and count of a real file is. */
export const u64 = (view: DataView, at: number) => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;

export function readTree(view: DataView, at: number): TreeInfo {
  return {
    depth: view.getUint16(at + 6, true),
    branchPages: u64(view, at + 8),
    leafPages: u64(view, at + 16),
    overflowPages: u64(view, at + 24),
    entries: u64(view, at + 32),
    root: u64(view, at + 40),
  };
}

/**
 * One meta page, checked; throws LmdbFileDamage. `inPlace`: it must also say
 * it is page `index`. LMDB reads both metas by position and writes the next
 * one over the slot of txnid parity, so the two metas swapped (each still a
 * valid meta) make it commit over its newest state and serve an older one;
 * only the page number in the header tells. Salvage reads a misplaced meta anyway.
 */
export function readMeta(page: Uint8Array, index: number, inPlace = true): MetaPage {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const what = `meta page ${index}`;
  if ((view.getUint16(18, true) & pageFlags.meta) === 0) throw new LmdbFileDamage(`${what} is not a meta page`);
  if (inPlace && u64(view, 0) !== index) throw new LmdbFileDamage(`${what} holds meta page ${u64(view, 0)} (swapped or overwritten)`);
  if (view.getUint32(24, true) !== metaMagic) throw new LmdbFileDamage(`${what} has a bad magic number`);
  const version = view.getUint32(28, true) & 0xffff;
  if (version !== dataVersion) throw new LmdbFileDamage(`${what} has format version ${version}, expected ${dataVersion}`);
  const pageSize = view.getUint32(48, true);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new LmdbFileDamage(`${what} has a bad page size ${pageSize}`);
  return {
    pageSize, mapSize: u64(view, 40), lastPage: u64(view, 144), txnid: u64(view, 152),
    trees: [readTree(view, 48), readTree(view, 48 + dbBytes)],
  };
}

/** The two metas' txnids: both 0 (a new file), or consecutive with each in the slot of its parity. */
export function checkMetaPair(txnid0: number, txnid1: number): void {
  if (txnid0 === 0 && txnid1 === 0) return;
  const inSlot = (txnid: number, slot: number) => txnid === 0 || txnid % 2 === slot;
  if (Math.abs(txnid0 - txnid1) !== 1 || !inSlot(txnid0, 0) || !inSlot(txnid1, 1)) {
    throw new LmdbFileDamage(`its meta pages name transactions ${txnid0} and ${txnid1}, not two consecutive ones each in its own slot`);
  }
}
