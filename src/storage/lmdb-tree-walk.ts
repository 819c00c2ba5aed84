/**
 * Walks one LMDB B+tree for the file check (lmdb-file-check.ts) and for
 * salvage: every page a transaction can reach, each checked where LMDB trusts
 * it, and counts of what it found so the totals can be checked against the
 * tree's own record.
 *
 * Speed (issue 11): pages come from PageReader (a synchronous read into a
 * buffer per level), node extents are sorted in a reused typed array and keys
 * are compared in place (Buffer.compare) and kept in reused scratch buffers,
 * so a page costs no allocation. Only the head page of an overflow run is
 * read when checking: LMDB keeps no header on the pages after it, and the
 * page reader already makes sure the whole run lies inside the file and is
 * reached once. Salvage reads whole runs, since it copies their data.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { dbBytes, LmdbFileDamage, nodeFlags, nodeHeaderBytes, pageFlags, pageHeaderBytes, readTree, u64, type LmdbMeta, type TreeInfo } from "./lmdb-layout.ts";
import type { PageReader } from "./lmdb-page-reader.ts";

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

/** The walk gives the event loop a turn after this many pages (~20 ms of reading): a long check does not starve timers. */
const pagesPerTurn = 4096;
const kindMask = pageFlags.branch | pageFlags.leaf | pageFlags.overflow | pageFlags.meta | pageFlags.leaf2 | pageFlags.subPage;

/** A key's place: bytes[start, end). */
interface KeyAt {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/** Unsigned lexicographic order of two keys in place: -1, 0 or 1 (keys are short and differ early: no native call). */
function compareKeys(a: KeyAt, b: Uint8Array, bStart: number, bEnd: number): number {
  const aLength = a.end - a.start;
  const n = Math.min(aLength, bEnd - bStart);
  for (let i = 0; i < n; i++) {
    const x = a.bytes[a.start + i]!;
    const y = b[bStart + i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return aLength === bEnd - bStart ? 0 : aLength < bEnd - bStart ? -1 : 1;
}

/** The last key read, carried from one leaf page to the next in a buffer of its own (page buffers are reused). */
class LastKey implements KeyAt {
  bytes = new Uint8Array(65536); // a node's key size is a u16
  start = 0;
  end = -1;
  get set(): boolean {
    return this.end >= 0;
  }
  keep(page: Uint8Array, start: number, end: number): void {
    this.bytes.set(page.subarray(start, end));
    this.end = end - start;
  }
}

export class TreeWalk {
  counts = { branchPages: 0, leafPages: 0, overflowPages: 0, entries: 0 };
  private readonly lastKey = new LastKey();
  /** The last key accepted on the leaf page being read (compared in place; copied to lastKey when the page ends). */
  private lastOnPage: KeyAt | undefined;
  /**
   * A branch key the next leaf key must be at least (LMDB routes lookups by these keys). It points into its
   * branch page's buffer, which stays put until the walk comes back to that page: the next leaf read uses it first.
   */
  private lowerBound: (KeyAt & { pgno: number }) | undefined;
  private lastFreeTxn: number | undefined;
  private readonly extents: Float64Array;
  /** Salvage: the entries of the leaf page being read, handed to the sink once the page is done. */
  private readonly pending: Array<[Uint8Array, Uint8Array]> = [];

  constructor(
    private readonly reader: PageReader,
    private readonly meta: LmdbMeta,
    private readonly subTrees: TreeInfo[],
    private readonly orderedKeys: boolean,
    private readonly sink?: WalkSink,
  ) {
    this.extents = new Float64Array(meta.pageSize / 2);
  }

  async walk(pgno: number, depth: number): Promise<void> {
    if (this.reader.pagesRead % pagesPerTurn === pagesPerTurn - 1) await yieldToEventLoop();
    try {
      await this.walkPage(pgno, depth);
    } catch (error) {
      // Salvage goes on past a damaged page: what hangs below it is lost, the rest is read.
      if (!this.sink || !(error instanceof LmdbFileDamage)) throw error;
      this.sink.damage(error.message);
    }
  }

  private async walkPage(pgno: number, depth: number): Promise<void> {
    const page = this.reader.page(pgno, depth);
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    const nodes = this.checkHeader(view, pgno, depth);
    if (depth > 1) {
      this.counts.branchPages++;
      for (let i = 0; i < nodes; i++) {
        const { at, keyEnd } = this.node(view, pgno, i);
        // A separator key (every node's but the first) lies above every key before it and at or below the first
        // key after it; a damaged one sends LMDB's lookups and writes to the wrong leaf.
        if (i > 0 && this.orderedKeys) this.separator(page, pgno, at + nodeHeaderBytes, keyEnd);
        await this.walk(view.getUint16(at, true) + view.getUint16(at + 2, true) * 2 ** 16 + view.getUint16(at + 4, true) * 2 ** 32, depth - 1);
      }
      return;
    }
    this.counts.leafPages++;
    this.lastOnPage = undefined;
    try {
      for (let i = 0; i < nodes; i++) {
        const { at, keyEnd } = this.node(view, pgno, i);
        this.leafNode(page, view, pgno, i, view.getUint16(at, true) + view.getUint16(at + 2, true) * 2 ** 16, view.getUint16(at + 4, true), at + nodeHeaderBytes, keyEnd);
      }
    } finally {
      const last = this.lastOnPage as KeyAt | undefined; // set by inOrder(), which TypeScript cannot see
      if (last) this.lastKey.keep(page, last.start, last.end);
      this.lastOnPage = undefined;
      // Salvage keeps the entries read before a damaged node, as it did when it handed each on at once.
      for (const [key, value] of this.pending.splice(0)) await this.sink?.entry(key, value);
    }
  }

  /** The page's kind and bounds, and that its nodes do not overlap; returns its node count. */
  private checkHeader(view: DataView, pgno: number, depth: number): number {
    const flags = view.getUint16(18, true);
    const expected = depth > 1 ? pageFlags.branch : pageFlags.leaf;
    if ((flags & kindMask) !== expected) throw new LmdbFileDamage(`page ${pgno} has flags 0x${flags.toString(16)}, expected a ${depth > 1 ? "branch" : "leaf"} page`);
    const lower = view.getUint16(20, true);
    const upper = view.getUint16(22, true);
    // lower, upper and node offsets count from the end of the header (PAGEBASE in mdb.c).
    if (lower > upper || upper > this.meta.pageSize - pageHeaderBytes || lower % 2 !== 0) {
      throw new LmdbFileDamage(`page ${pgno} has bad bounds ${lower}..${upper}`);
    }
    const nodes = lower / 2;
    if (nodes === 0) throw new LmdbFileDamage(`page ${pgno} is empty`);
    this.checkNodeOverlap(view, pgno, nodes, upper, depth > 1);
    return nodes;
  }

  /** Node i's offset in the page and the end of its key, both checked to lie inside the page. */
  private node(view: DataView, pgno: number, i: number): { at: number; keyEnd: number } {
    const at = pageHeaderBytes + view.getUint16(pageHeaderBytes + 2 * i, true);
    if (at < pageHeaderBytes + view.getUint16(22, true) || at + nodeHeaderBytes > this.meta.pageSize) throw new LmdbFileDamage(`page ${pgno} node ${i} lies outside the page`);
    const keyEnd = at + nodeHeaderBytes + view.getUint16(at + 6, true);
    if (keyEnd > this.meta.pageSize) throw new LmdbFileDamage(`page ${pgno} node ${i} has a key past the page`);
    return { at, keyEnd };
  }

  /**
   * A page's nodes lie between `upper` and its end, each EVEN(header + key + data) bytes, none over another.
   * A size field damaged upwards makes two overlap; LMDB would then write a new value over its neighbour
   * (it updates a same-size value in place, by that size).
   */
  private checkNodeOverlap(view: DataView, pgno: number, nodes: number, upper: number, branch: boolean): void {
    const size = this.meta.pageSize;
    // Each extent packed as start * 2^17 + end (both ≤ 65536), so a numeric sort orders them by start.
    const extents = this.extents.subarray(0, nodes);
    for (let i = 0; i < nodes; i++) {
      const at = pageHeaderBytes + view.getUint16(pageHeaderBytes + 2 * i, true);
      if (at + nodeHeaderBytes > size) throw new LmdbFileDamage(`page ${pgno} node ${i} lies outside the page`);
      const nodeFlag = view.getUint16(at + 4, true);
      const dataBytes = branch ? 0 : nodeFlag & nodeFlags.bigData ? 8 : nodeFlag & nodeFlags.subData ? dbBytes : view.getUint16(at, true) + view.getUint16(at + 2, true) * 2 ** 16;
      const bytes = nodeHeaderBytes + view.getUint16(at + 6, true) + dataBytes;
      const end = at + bytes + (bytes % 2);
      if (end > size) throw new LmdbFileDamage(`page ${pgno} has nodes that overlap (a damaged size)`);
      extents[i] = at * 2 ** 17 + end;
    }
    extents.sort();
    let free = pageHeaderBytes + upper;
    for (let i = 0; i < nodes; i++) {
      const start = Math.floor(extents[i]! / 2 ** 17);
      if (start < free) throw new LmdbFileDamage(`page ${pgno} has nodes that overlap (a damaged size)`);
      free = extents[i]! - start * 2 ** 17;
    }
  }

  private separator(page: Buffer, pgno: number, start: number, end: number): void {
    if (this.lastKey.set && compareKeys(this.lastKey, page, start, end) >= 0) this.misplaced(pgno);
    this.lowerBound = { bytes: page, start, end, pgno };
  }

  private misplaced(pgno: number): void {
    if (!this.sink) throw new LmdbFileDamage(`branch page ${pgno} holds a key out of order with its leaves`);
    this.sink.damage(`branch page ${pgno} holds a key out of order with its leaves`);
  }

  /** Keys strictly ascending, and at or above the separator that routed here; false: skip this entry (salvage). */
  private inOrder(page: Buffer, pgno: number, keyAt: number, keyEnd: number): boolean {
    if (this.lowerBound) {
      if (compareKeys(this.lowerBound, page, keyAt, keyEnd) > 0) this.misplaced(this.lowerBound.pgno);
      this.lowerBound = undefined;
    }
    const last = this.lastOnPage ?? (this.lastKey.set ? this.lastKey : undefined);
    if (last && compareKeys(last, page, keyAt, keyEnd) >= 0) {
      if (!this.sink) throw new LmdbFileDamage(`page ${pgno} holds keys out of order`);
      this.sink.damage(`page ${pgno} holds keys out of order`);
      return false;
    }
    this.lastOnPage = { bytes: page, start: keyAt, end: keyEnd };
    return true;
  }

  private leafNode(page: Buffer, view: DataView, pgno: number, i: number, dataBytes: number, nodeFlag: number, keyAt: number, keyEnd: number): void {
    this.counts.entries++;
    if (this.orderedKeys && !this.inOrder(page, pgno, keyAt, keyEnd)) return;
    if (nodeFlag & nodeFlags.bigData) {
      if (keyEnd + 8 > page.length) throw new LmdbFileDamage(`page ${pgno} node ${i} has its overflow page number past the page`);
      const first = u64(view, keyEnd);
      const pages = Math.ceil((pageHeaderBytes + dataBytes) / this.meta.pageSize);
      // Level 0 is the overflow runs' buffer (tree levels count from 1).
      const head = this.reader.page(first, 0, pages, this.sink ? pages : 1);
      if ((head.readUInt16LE(18) & pageFlags.overflow) === 0 || head.readUInt32LE(20) !== pages) {
        throw new LmdbFileDamage(`overflow page ${first} does not hold the ${pages} pages its node says`);
      }
      this.counts.overflowPages += pages;
      this.data(page, pgno, keyAt, keyEnd, dataBytes, () => head.subarray(pageHeaderBytes, pageHeaderBytes + dataBytes));
      return;
    }
    if (keyEnd + (nodeFlag & nodeFlags.subData ? dbBytes : dataBytes) > page.length) {
      throw new LmdbFileDamage(`page ${pgno} node ${i} has data past the page`);
    }
    if (nodeFlag & nodeFlags.subData) this.subTrees.push(readTree(view, keyEnd));
    else this.data(page, pgno, keyAt, keyEnd, dataBytes, () => page.subarray(keyEnd, keyEnd + dataBytes));
  }

  /** One entry: a free-space entry is checked (LMDB writes trust it), a main one kept for the sink (salvage). */
  private data(page: Buffer, pgno: number, keyAt: number, keyEnd: number, dataBytes: number, value: () => Uint8Array): void {
    if (!this.orderedKeys) {
      // Free-space tree: key = the txnid that freed the pages (u64), data = a list of u64 words. lmdb-js's LMDB
      // packs runs and reserved space in it (mdb_freelist_save), so only its shape is checked here; a key of
      // another size makes a later commit fail outside any promise ("updated freelist key wrong size").
      if (keyEnd - keyAt !== 8 || dataBytes === 0 || dataBytes % 8 !== 0) throw new LmdbFileDamage(`page ${pgno} holds a malformed free-space entry`);
      const txnid = page.readUInt32LE(keyAt) + page.readUInt32LE(keyAt + 4) * 2 ** 32;
      if (this.lastFreeTxn !== undefined && txnid <= this.lastFreeTxn) throw new LmdbFileDamage(`page ${pgno} holds free-space entries out of order`);
      this.lastFreeTxn = txnid;
      return;
    }
    if (this.sink) this.pending.push([new Uint8Array(page.subarray(keyAt, keyEnd)), new Uint8Array(value())]);
  }
}
