/**
 * A structural check of an LMDB data file, in Node, before lmdb-js maps it.
 * LMDB trusts its file: a truncated file makes the first read past its end
 * a SIGBUS, and a zeroed or swapped page ends in an assertion abort
 * (`Assertion 'IS_LEAF(mp)' failed`) in the middle of a read, both with
 * nothing logged. Only what this check has seen is ever read by LMDB, so it
 * walks everything a transaction can reach: both meta pages (LMDB picks the
 * one with the larger txnid without checking it), then every page of the
 * free-space tree and of the main tree, with their overflow pages.
 *
 * Layout (lmdb-js 3.x's LMDB, mdb.c, 64-bit little-endian): a page header is
 * pgno u64 @0, txnid u64 @8, pad u16 @16, flags u16 @18, lower u16 @20,
 * upper u16 @22 (an overflow page's page count is the u32 @20), then u16
 * node offsets; lower, upper and offsets count from the end of the header. A meta page's MDB_meta starts at 24: magic @24, version @28,
 * mapsize @40, two MDB_db of 48 bytes @48 (pad = page size, flags, depth,
 * branch/leaf/overflow page counts, entries, root), last page @144, txnid @152.
 * A node is lo u16, hi u16, flags u16, ksize u16, key, data: on a branch page
 * lo|hi<<16|flags<<32 is the child page; on a leaf lo|hi<<16 is the data size,
 * flag 0x01 puts the data on overflow pages (an 8-byte page number), 0x02
 * makes it a sub-database (an MDB_db).
 */
import type { FileHandle } from "node:fs/promises";
import { compareBytes } from "./bytes.ts";

const pageHeaderBytes = 24;
const nodeHeaderBytes = 8;
const dbBytes = 48;
const metaMagic = 0xbeefc0de;
const dataVersion = 2;
const invalidPage = 2 ** 64 - 1;
const flags = { branch: 0x01, leaf: 0x02, overflow: 0x04, meta: 0x08, leaf2: 0x20, subPage: 0x40 } as const;
const nodeFlags = { bigData: 0x01, subData: 0x02, dupData: 0x04 } as const;

/** What the file says about itself: the meta LMDB will use. */
export interface LmdbMeta {
  pageSize: number;
  lastPage: number;
  txnid: number;
  mapSize: number;
}

interface TreeInfo {
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  entries: number;
  root: number;
}

/** A problem found in the file; the caller wraps it with the path and the way out. */
export class LmdbFileDamage extends Error {}

/**
 * For salvage (lmdb-salvage.ts): hears every entry of the main tree that can
 * be read, and each damaged page, which is then skipped instead of thrown.
 */
export interface WalkSink {
  entry(key: Uint8Array, value: Uint8Array): Promise<void>;
  damage(message: string): void;
  /** How many entries the main tree says it holds, before the walk (for a progress line). */
  expect?(entries: number): void;
}

const u64 = (view: DataView, at: number) => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;

function readTree(view: DataView, at: number): TreeInfo {
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
function readMeta(page: Uint8Array, index: number, inPlace = true): LmdbMeta & { trees: [TreeInfo, TreeInfo] } {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const what = `meta page ${index}`;
  if ((view.getUint16(18, true) & flags.meta) === 0) throw new LmdbFileDamage(`${what} is not a meta page`);
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

/** Walks one B+tree; counts what it finds so the totals can be checked against the tree's own record. */
class TreeWalk {
  counts = { branchPages: 0, leafPages: 0, overflowPages: 0, entries: 0 };
  private lastKey: Uint8Array | undefined;
  /** A branch key the next leaf key must be at least (LMDB routes lookups by these keys). */
  private lowerBound: { key: Uint8Array; pgno: number } | undefined;
  private lastFreeTxn: number | undefined;

  constructor(
    private readonly file: FileHandle,
    private readonly meta: LmdbMeta,
    private readonly seen: Set<number>,
    private readonly subTrees: TreeInfo[],
    private readonly orderedKeys: boolean,
    private readonly sink?: WalkSink,
  ) {}

  async page(pgno: number, count = 1): Promise<Uint8Array> {
    if (!Number.isSafeInteger(pgno) || pgno < 2 || pgno + count - 1 > this.meta.lastPage) {
      throw new LmdbFileDamage(`a tree points at page ${pgno}, outside pages 2..${this.meta.lastPage}`);
    }
    for (let p = pgno; p < pgno + count; p++) {
      if (this.seen.has(p)) throw new LmdbFileDamage(`page ${p} is reachable twice`);
      this.seen.add(p);
    }
    const size = this.meta.pageSize * count;
    const bytes = new Uint8Array(size);
    const { bytesRead } = await this.file.read(bytes, 0, size, pgno * this.meta.pageSize);
    if (bytesRead < size) throw new LmdbFileDamage(`it is truncated: page ${pgno}, which a tree uses, lies past the end of the file`);
    const view = new DataView(bytes.buffer);
    if (u64(view, 0) !== pgno) throw new LmdbFileDamage(`page ${pgno} holds page ${u64(view, 0)} (swapped, zeroed or overwritten)`);
    // A page from a later transaction than the meta's is damaged; LMDB would take it for one its writer made
    // (writable in place) and write into the read-only map: SIGSEGV. Salvage reads it (it never maps the file).
    if (!this.sink && u64(view, 8) > this.meta.txnid) throw new LmdbFileDamage(`page ${pgno} claims transaction ${u64(view, 8)}, after the last one (${this.meta.txnid})`);
    return bytes;
  }

  async walk(pgno: number, depth: number): Promise<void> {
    try {
      await this.walkPage(pgno, depth);
    } catch (error) {
      // Salvage goes on past a damaged page: what hangs below it is lost, the rest is read.
      if (!this.sink || !(error instanceof LmdbFileDamage)) throw error;
      this.sink.damage(error.message);
    }
  }

  private async walkPage(pgno: number, depth: number): Promise<void> {
    const bytes = await this.page(pgno);
    const view = new DataView(bytes.buffer);
    const pageFlags = view.getUint16(18, true);
    const kind = pageFlags & (flags.branch | flags.leaf | flags.overflow | flags.meta | flags.leaf2 | flags.subPage);
    const expected = depth > 1 ? flags.branch : flags.leaf;
    if (kind !== expected) throw new LmdbFileDamage(`page ${pgno} has flags 0x${pageFlags.toString(16)}, expected a ${depth > 1 ? "branch" : "leaf"} page`);
    const lower = view.getUint16(20, true);
    const upper = view.getUint16(22, true);
    const size = this.meta.pageSize;
    // lower, upper and node offsets count from the end of the header (PAGEBASE in mdb.c).
    if (lower > upper || upper > size - pageHeaderBytes || lower % 2 !== 0) {
      throw new LmdbFileDamage(`page ${pgno} has bad bounds ${lower}..${upper}`);
    }
    const nodes = lower / 2;
    if (nodes === 0) throw new LmdbFileDamage(`page ${pgno} is empty`);
    if (depth > 1) this.counts.branchPages++;
    else this.counts.leafPages++;
    this.checkNodeOverlap(view, pgno, nodes, upper, depth > 1);
    for (let i = 0; i < nodes; i++) {
      const at = pageHeaderBytes + view.getUint16(pageHeaderBytes + 2 * i, true);
      if (at < pageHeaderBytes + upper || at + nodeHeaderBytes > size) throw new LmdbFileDamage(`page ${pgno} node ${i} lies outside the page`);
      const lo = view.getUint16(at, true);
      const hi = view.getUint16(at + 2, true);
      const nodeFlag = view.getUint16(at + 4, true);
      const keyBytes = view.getUint16(at + 6, true);
      const keyEnd = at + nodeHeaderBytes + keyBytes;
      if (keyEnd > size) throw new LmdbFileDamage(`page ${pgno} node ${i} has a key past the page`);
      if (depth > 1) {
        // A separator key (every node's but the first) lies above every key before it and at or below the first
        // key after it; a damaged one sends LMDB's lookups and writes to the wrong leaf.
        if (i > 0 && this.orderedKeys) this.separator(pgno, bytes.subarray(at + nodeHeaderBytes, keyEnd));
        await this.walk(lo + hi * 2 ** 16 + nodeFlag * 2 ** 32, depth - 1);
        continue;
      }
      await this.leafNode(bytes, view, pgno, i, lo + hi * 2 ** 16, nodeFlag, at + nodeHeaderBytes, keyEnd);
    }
  }

  /**
   * A page's nodes lie between `upper` and its end, each EVEN(header + key + data) bytes, none over another.
   * A size field damaged upwards makes two overlap; LMDB would then write a new value over its neighbour
   * (it updates a same-size value in place, by that size).
   */
  private checkNodeOverlap(view: DataView, pgno: number, nodes: number, upper: number, branch: boolean): void {
    const size = this.meta.pageSize;
    const extents: Array<[number, number]> = [];
    for (let i = 0; i < nodes; i++) {
      const at = pageHeaderBytes + view.getUint16(pageHeaderBytes + 2 * i, true);
      if (at + nodeHeaderBytes > size) throw new LmdbFileDamage(`page ${pgno} node ${i} lies outside the page`);
      const nodeFlag = view.getUint16(at + 4, true);
      const dataBytes = branch ? 0 : nodeFlag & nodeFlags.bigData ? 8 : nodeFlag & nodeFlags.subData ? dbBytes : view.getUint16(at, true) + view.getUint16(at + 2, true) * 2 ** 16;
      const bytes = nodeHeaderBytes + view.getUint16(at + 6, true) + dataBytes;
      extents.push([at, at + bytes + (bytes % 2)]);
    }
    extents.sort((a, b) => a[0] - b[0]);
    let free = pageHeaderBytes + upper;
    for (const [start, end] of extents) {
      if (start < free || end > size) throw new LmdbFileDamage(`page ${pgno} has nodes that overlap (a damaged size)`);
      free = end;
    }
  }

  private separator(pgno: number, key: Uint8Array): void {
    if (this.lastKey && compareBytes(this.lastKey, key) >= 0) this.misplaced(pgno);
    this.lowerBound = { key: key.slice(), pgno };
  }

  private misplaced(pgno: number): void {
    if (!this.sink) throw new LmdbFileDamage(`branch page ${pgno} holds a key out of order with its leaves`);
    this.sink.damage(`branch page ${pgno} holds a key out of order with its leaves`);
  }

  private async leafNode(bytes: Uint8Array, view: DataView, pgno: number, i: number, dataBytes: number, nodeFlag: number, keyAt: number, keyEnd: number) {
    this.counts.entries++;
    if (this.orderedKeys) {
      const key = bytes.subarray(keyAt, keyEnd);
      if (this.lowerBound) {
        if (compareBytes(key, this.lowerBound.key) < 0) this.misplaced(this.lowerBound.pgno);
        this.lowerBound = undefined;
      }
      if (this.lastKey && compareBytes(this.lastKey, key) >= 0) {
        if (!this.sink) throw new LmdbFileDamage(`page ${pgno} holds keys out of order`);
        this.sink.damage(`page ${pgno} holds keys out of order`);
        return;
      }
      this.lastKey = key.slice();
    }
    if (nodeFlag & nodeFlags.bigData) {
      if (keyEnd + 8 > bytes.length) throw new LmdbFileDamage(`page ${pgno} node ${i} has its overflow page number past the page`);
      const first = u64(view, keyEnd);
      const pages = Math.ceil((pageHeaderBytes + dataBytes) / this.meta.pageSize);
      const head = await this.page(first, pages);
      const headView = new DataView(head.buffer);
      if ((headView.getUint16(18, true) & flags.overflow) === 0 || headView.getUint32(20, true) !== pages) {
        throw new LmdbFileDamage(`overflow page ${first} does not hold the ${pages} pages its node says`);
      }
      this.counts.overflowPages += pages;
      await this.data(pgno, bytes.subarray(keyAt, keyEnd), head.subarray(pageHeaderBytes, pageHeaderBytes + dataBytes));
      return;
    }
    if (keyEnd + (nodeFlag & nodeFlags.subData ? dbBytes : dataBytes) > bytes.length) {
      throw new LmdbFileDamage(`page ${pgno} node ${i} has data past the page`);
    }
    if (nodeFlag & nodeFlags.subData) this.subTrees.push(readTree(view, keyEnd));
    else await this.data(pgno, bytes.subarray(keyAt, keyEnd), bytes.subarray(keyEnd, keyEnd + dataBytes));
  }

  /** One entry's key and data: a free-space entry is checked (LMDB writes trust it), a main one handed on. */
  private async data(pgno: number, key: Uint8Array, data: Uint8Array): Promise<void> {
    if (!this.orderedKeys) {
      // Free-space tree: key = the txnid that freed the pages (u64), data = a list of u64 words. lmdb-js's LMDB
      // packs runs and reserved space in it (mdb_freelist_save), so only its shape is checked here; a key of
      // another size makes a later commit fail outside any promise ("updated freelist key wrong size").
      if (key.length !== 8 || data.length === 0 || data.length % 8 !== 0) throw new LmdbFileDamage(`page ${pgno} holds a malformed free-space entry`);
      const txnid = u64(new DataView(key.buffer, key.byteOffset, 8), 0);
      if (this.lastFreeTxn !== undefined && txnid <= this.lastFreeTxn) throw new LmdbFileDamage(`page ${pgno} holds free-space entries out of order`);
      this.lastFreeTxn = txnid;
      return;
    }
    await this.sink?.entry(key.slice(), data.slice());
  }
}

/** Walks a tree from its root and checks its page and entry counts against its record. */
async function checkTree(file: FileHandle, meta: LmdbMeta, seen: Set<number>, tree: TreeInfo, name: string, orderedKeys: boolean): Promise<void> {
  if (tree.root === invalidPage || tree.root >= 2 ** 53) {
    if (tree.entries !== 0 || tree.depth !== 0) throw new LmdbFileDamage(`the ${name} tree has no root but ${tree.entries} entries`);
    return;
  }
  if (tree.depth < 1 || tree.depth > 64) throw new LmdbFileDamage(`the ${name} tree has depth ${tree.depth}`);
  const subTrees: TreeInfo[] = [];
  const walk = new TreeWalk(file, meta, seen, subTrees, orderedKeys);
  await walk.walk(tree.root, tree.depth);
  const { counts } = walk;
  if (counts.entries !== tree.entries || counts.leafPages !== tree.leafPages || counts.branchPages !== tree.branchPages || counts.overflowPages !== tree.overflowPages) {
    throw new LmdbFileDamage(`the ${name} tree holds ${counts.entries} entries in ${counts.leafPages + counts.branchPages + counts.overflowPages} pages, its record says ${tree.entries} in ${tree.leafPages + tree.branchPages + tree.overflowPages}`);
  }
  for (const sub of subTrees) await checkTree(file, meta, seen, sub, `${name} sub-database`, true);
}

/** The two metas' txnids: both 0 (a new file), or consecutive with each in the slot of its parity. */
function checkMetaPair(txnid0: number, txnid1: number): void {
  if (txnid0 === 0 && txnid1 === 0) return;
  const inSlot = (txnid: number, slot: number) => txnid === 0 || txnid % 2 === slot;
  if (Math.abs(txnid0 - txnid1) !== 1 || !inSlot(txnid0, 0) || !inSlot(txnid1, 1)) {
    throw new LmdbFileDamage(`its meta pages name transactions ${txnid0} and ${txnid1}, not two consecutive ones each in its own slot`);
  }
}

/**
 * Checks an open, non-empty data file; the meta LMDB will use. Throws
 * LmdbFileDamage naming what is wrong (the caller adds the path and the way out).
 */
export async function checkLmdbFile(file: FileHandle, fileBytes: number): Promise<LmdbMeta> {
  const first = new Uint8Array(Math.min(fileBytes, 65536));
  await file.read(first, 0, first.length, 0);
  if (first.length < 160) throw new LmdbFileDamage(`it is only ${fileBytes} bytes long`);
  const meta0 = readMeta(first, 0);
  if (fileBytes < 2 * meta0.pageSize) throw new LmdbFileDamage(`it is truncated to ${fileBytes} bytes, less than its two meta pages`);
  const second = new Uint8Array(meta0.pageSize);
  await file.read(second, 0, second.length, meta0.pageSize);
  const meta1 = readMeta(second, 1);
  if (meta1.pageSize !== meta0.pageSize) throw new LmdbFileDamage(`its meta pages disagree on the page size (${meta0.pageSize}, ${meta1.pageSize})`);
  // LMDB opens the meta with the larger txnid (mdb_pick_meta) and never looks at the other again. It writes the
  // meta of transaction t into slot t mod 2, so the two hold consecutive transactions, each in its slot: a txnid
  // damaged upwards would make LMDB open the older state silently (and commit over the newer one).
  checkMetaPair(meta0.txnid, meta1.txnid);
  const meta = meta1.txnid > meta0.txnid ? meta1 : meta0;
  // A healthy file may end before the meta's last page: pages a transaction allocated and freed again before
  // its commit count in that number but are never written (one clean 100k-document store ended 10 pages short
  // and was refused as truncated). LMDB writes with pwrite (useWritemap is off), which extends the file, so only
  // a page a tree reaches past the end can hurt, and the walks below report exactly that.
  const seen = new Set<number>();
  await checkTree(file, meta, seen, meta.trees[0], "free-space", false);
  await checkTree(file, meta, seen, meta.trees[1], "main", true);
  return { pageSize: meta.pageSize, lastPage: meta.lastPage, txnid: meta.txnid, mapSize: meta.mapSize };
}

/**
 * Reads every entry of the main tree that can still be read, skipping
 * damaged pages (each reported to `sink.damage`), from the newest meta page
 * that is intact. For `concord repair`: never maps the file, so a damaged
 * one cannot crash it. Returns false when neither meta page is usable.
 */
export async function salvageLmdbFile(file: FileHandle, sink: WalkSink): Promise<boolean> {
  const metas: Array<ReturnType<typeof readMeta>> = [];
  let pageSize = 4096;
  for (const index of [0, 1]) {
    try {
      const page = new Uint8Array(65536);
      const { bytesRead } = await file.read(page, 0, page.length, index * pageSize);
      if (bytesRead < 160) throw new LmdbFileDamage(`meta page ${index} lies past the end of the file`);
      const meta = readMeta(page.subarray(0, bytesRead), index, false);
      pageSize = meta.pageSize;
      metas.push(meta);
    } catch (error) {
      if (!(error instanceof LmdbFileDamage)) throw error;
      sink.damage(error.message);
    }
  }
  const meta = metas.sort((a, b) => b.txnid - a.txnid)[0];
  if (!meta) return false;
  const main = meta.trees[1];
  if (main.root === invalidPage || main.root >= 2 ** 53) return true;
  sink.expect?.(main.entries);
  // Pages past the end of a truncated file are reported as damaged by the walk, one subtree at a time.
  await new TreeWalk(file, meta, new Set(), [], true, sink).walk(main.root, Math.min(Math.max(main.depth, 1), 64));
  return true;
}
