/**
 * Reads the pages of an LMDB file for the file check, fast: one synchronous
 * positional read per page into a buffer reused per tree level, and one bit
 * per page to find a page reachable twice.
 *
 * Why synchronous: the check used to await one fs.promises read per page. A
 * page is 4 KiB, so each read is a round trip through libuv's thread pool
 * for a few microseconds of copying: 5.6 s for the ~35k pages of a 100k-
 * document store, almost all of it waiting. readSync of a cached page costs
 * ~5 µs. The check runs before LMDB maps the file and serves nothing
 * meanwhile; the walk still yields to the event loop now and then (see
 * lmdb-tree-walk.ts), so other work in the process is not starved.
 *
 * Buffers: DFS over a B+tree holds one page per level at a time (a branch
 * page stays in use while its children are walked), so level d reads into
 * buffer d, and no page costs an allocation. Callers must be done with a
 * level's page before reading another page at that level.
 */
import { readSync } from "node:fs";
import { LmdbFileDamage, u64, type LmdbMeta } from "./lmdb-layout.ts";

export class PageReader {
  /** One bit per page of the file: set once a tree has reached the page. */
  private readonly seen: Uint8Array;
  private readonly levels: Buffer[] = [];
  private readonly filePages: number;
  pagesRead = 0;

  /** `strict`: a page from a later transaction than the meta's is damage (salvage reads it anyway). */
  constructor(
    private readonly fd: number,
    private readonly meta: LmdbMeta,
    fileBytes: number,
    private readonly strict: boolean,
  ) {
    this.filePages = Math.floor(fileBytes / meta.pageSize);
    // Sized by the file, not by the meta's last page: a damaged meta could name any number.
    this.seen = new Uint8Array((this.filePages >>> 3) + 1);
  }

  /**
   * Marks pages pgno..pgno+count-1 as reached, then reads the first `readPages`
   * of them into level `level`'s buffer and checks the first page's header.
   * Throws LmdbFileDamage for a page outside 2..lastPage, past the end of the
   * file, reached before, not holding its own number, or (strict) from a later
   * transaction.
   */
  page(pgno: number, level: number, count = 1, readPages = 1): Buffer {
    this.claim(pgno, count);
    const size = this.meta.pageSize * readPages;
    const bytes = this.buffer(level, size);
    const bytesRead = readSync(this.fd, bytes, 0, size, pgno * this.meta.pageSize);
    if (bytesRead < size) throw truncated(pgno);
    this.pagesRead++;
    const view = new DataView(bytes.buffer, bytes.byteOffset, size);
    if (u64(view, 0) !== pgno) throw new LmdbFileDamage(`page ${pgno} holds page ${u64(view, 0)} (swapped, zeroed or overwritten)`);
    // A page from a later transaction than the meta's is damaged; LMDB would take it for one its writer made
    // (writable in place) and write into the read-only map: SIGSEGV. Salvage reads it (it never maps the file).
    if (this.strict && u64(view, 8) > this.meta.txnid) throw new LmdbFileDamage(`page ${pgno} claims transaction ${u64(view, 8)}, after the last one (${this.meta.txnid})`);
    return bytes;
  }

  private claim(pgno: number, count: number): void {
    if (!Number.isSafeInteger(pgno) || pgno < 2 || pgno + count - 1 > this.meta.lastPage) {
      throw new LmdbFileDamage(`a tree points at page ${pgno}, outside pages 2..${this.meta.lastPage}`);
    }
    if (pgno + count > this.filePages) throw truncated(pgno);
    for (let p = pgno; p < pgno + count; p++) {
      const bit = 1 << (p & 7);
      if (this.seen[p >>> 3]! & bit) throw new LmdbFileDamage(`page ${p} is reachable twice`);
      this.seen[p >>> 3]! |= bit;
    }
  }

  /** Level `level`'s buffer, grown to `size` when an overflow run needs more (salvage reads whole runs). */
  private buffer(level: number, size: number): Buffer {
    const current = this.levels[level];
    if (current && current.length >= size) return current.length === size ? current : current.subarray(0, size);
    const fresh = Buffer.alloc(Math.max(size, this.meta.pageSize));
    this.levels[level] = fresh;
    return fresh.subarray(0, size);
  }
}

function truncated(pgno: number): LmdbFileDamage {
  return new LmdbFileDamage(`it is truncated: page ${pgno}, which a tree uses, lies past the end of the file`);
}
