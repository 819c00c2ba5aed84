/**
 * A structural check of an LMDB data file, in Node, before lmdb-js maps it.
 * LMDB trusts its file: a truncated file makes the first read past its end
 * a SIGBUS, and a zeroed or swapped page ends in an assertion abort
 * (`Assertion 'IS_LEAF(mp)' failed`) in the middle of a read, both with
 * nothing logged. Only what this check has seen is ever read by LMDB, so it
 * walks everything a transaction can reach: both meta pages (LMDB picks the
 * one with the larger txnid without checking it), then every page of the
 * free-space tree and of the main tree, with their overflow pages
 * (lmdb-tree-walk.ts; the layout is in lmdb-layout.ts).
 */
import type { FileHandle } from "node:fs/promises";
import { checkMetaPair, invalidPage, LmdbFileDamage, readMeta, type LmdbMeta, type MetaPage, type TreeInfo } from "./lmdb-layout.ts";
import { PageReader } from "./lmdb-page-reader.ts";
import { TreeWalk, type WalkSink } from "./lmdb-tree-walk.ts";

export { LmdbFileDamage, type LmdbMeta } from "./lmdb-layout.ts";
export type { WalkSink } from "./lmdb-tree-walk.ts";

/** Walks a tree from its root and checks its page and entry counts against its record. */
async function checkTree(reader: PageReader, meta: LmdbMeta, tree: TreeInfo, name: string, orderedKeys: boolean): Promise<void> {
  if (tree.root === invalidPage || tree.root >= 2 ** 53) {
    if (tree.entries !== 0 || tree.depth !== 0) throw new LmdbFileDamage(`the ${name} tree has no root but ${tree.entries} entries`);
    return;
  }
  if (tree.depth < 1 || tree.depth > 64) throw new LmdbFileDamage(`the ${name} tree has depth ${tree.depth}`);
  const subTrees: TreeInfo[] = [];
  const walk = new TreeWalk(reader, meta, subTrees, orderedKeys);
  await walk.walk(tree.root, tree.depth);
  const { counts } = walk;
  if (counts.entries !== tree.entries || counts.leafPages !== tree.leafPages || counts.branchPages !== tree.branchPages || counts.overflowPages !== tree.overflowPages) {
    throw new LmdbFileDamage(`the ${name} tree holds ${counts.entries} entries in ${counts.leafPages + counts.branchPages + counts.overflowPages} pages, its record says ${tree.entries} in ${tree.leafPages + tree.branchPages + tree.overflowPages}`);
  }
  for (const sub of subTrees) await checkTree(reader, meta, sub, `${name} sub-database`, true);
}

/**
 * Reads and checks both meta pages: the meta LMDB will use. Throws
 * LmdbFileDamage. Cheap (two pages): also what a clean-close record is
 * checked against (lmdb-clean-close.ts).
 */
export async function readMetas(file: FileHandle, fileBytes: number): Promise<{ meta: MetaPage; pages: Uint8Array }> {
  const first = new Uint8Array(Math.min(fileBytes, 65536));
  await file.read(first, 0, first.length, 0);
  if (first.length < 160) throw new LmdbFileDamage(`it is only ${fileBytes} bytes long`);
  const meta0 = readMeta(first, 0);
  if (fileBytes < 2 * meta0.pageSize) throw new LmdbFileDamage(`it is truncated to ${fileBytes} bytes, less than its two meta pages`);
  const pages = new Uint8Array(2 * meta0.pageSize);
  await file.read(pages, 0, pages.length, 0);
  const meta1 = readMeta(pages.subarray(meta0.pageSize), 1);
  if (meta1.pageSize !== meta0.pageSize) throw new LmdbFileDamage(`its meta pages disagree on the page size (${meta0.pageSize}, ${meta1.pageSize})`);
  // LMDB opens the meta with the larger txnid (mdb_pick_meta) and never looks at the other again. It writes the
  // meta of transaction t into slot t mod 2, so the two hold consecutive transactions, each in its slot: a txnid
  // damaged upwards would make LMDB open the older state silently (and commit over the newer one).
  checkMetaPair(meta0.txnid, meta1.txnid);
  return { meta: meta1.txnid > meta0.txnid ? meta1 : meta0, pages };
}

/**
 * Checks an open, non-empty data file; the meta LMDB will use. Throws
 * LmdbFileDamage naming what is wrong (the caller adds the path and the way out).
 */
export async function checkLmdbFile(file: FileHandle, fileBytes: number): Promise<LmdbMeta> {
  const { meta } = await readMetas(file, fileBytes);
  // A healthy file may end before the meta's last page: pages a transaction allocated and freed again before
  // its commit count in that number but are never written (one clean 100k-document store ended 10 pages short
  // and was refused as truncated). LMDB writes with pwrite (useWritemap is off), which extends the file, so only
  // a page a tree reaches past the end can hurt, and the walks below report exactly that.
  const reader = new PageReader(file.fd, meta, fileBytes, true);
  await checkTree(reader, meta, meta.trees[0], "free-space", false);
  await checkTree(reader, meta, meta.trees[1], "main", true);
  return { pageSize: meta.pageSize, lastPage: meta.lastPage, txnid: meta.txnid, mapSize: meta.mapSize };
}

/**
 * Reads every entry of the main tree that can still be read, skipping
 * damaged pages (each reported to `sink.damage`), from the newest meta page
 * that is intact. For `concord repair`: never maps the file, so a damaged
 * one cannot crash it. Returns false when neither meta page is usable.
 */
export async function salvageLmdbFile(file: FileHandle, sink: WalkSink): Promise<boolean> {
  const metas: MetaPage[] = [];
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
  const reader = new PageReader(file.fd, meta, (await file.stat()).size, false);
  await new TreeWalk(reader, meta, [], true, sink).walk(main.root, Math.min(Math.max(main.depth, 1), 64));
  return true;
}
