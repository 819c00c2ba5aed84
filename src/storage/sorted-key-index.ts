/**
 * An ordered set of strings for the in-memory store's scans: a sorted list of
 * small sorted blocks. Insert and delete cost a binary search plus a splice
 * inside one block (not a shift of the whole key set), and a range read is a
 * binary search then a walk, so 1e5 random keys stay cheap to maintain while
 * scans never sort. Strings compare with `<`, which for byte strings (see
 * bytes.ts `toByteString`) is unsigned byte order.
 */

export interface SortedKeyIndex {
  /** Number of keys held. */
  readonly size: number;
  /** Adds `key`; returns false if it was already there. */
  add(key: string): boolean;
  /** Removes `key`; returns false if it was not there. */
  delete(key: string): boolean;
  /**
   * Up to `limit` keys in ascending order, starting at `start` (or just after
   * it when `startExclusive`), stopping before `end` when given.
   */
  range(start: string, startExclusive: boolean, end: string | undefined, limit: number): string[];
}

export interface SortedKeyIndexOptions {
  /** A block splits in two past this many keys. Default 512; tests use tiny blocks to exercise splits. */
  blockMaxKeys?: number;
}

export function createSortedKeyIndex(options: SortedKeyIndexOptions = {}): SortedKeyIndex {
  const blockMaxKeys = Math.max(2, options.blockMaxKeys ?? 512);
  // Invariants: no block is empty; blocks are sorted and every key of block i
  // is below every key of block i + 1.
  const blocks: string[][] = [];
  let size = 0;

  /** Index of the first block whose last key is >= key, or blocks.length. */
  function blockFor(key: string): number {
    let lo = 0;
    let hi = blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = blocks[mid]!;
      if (block[block.length - 1]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first element >= key. */
  function lowerBound(block: readonly string[], key: string): number {
    let lo = 0;
    let hi = block.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (block[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  return {
    get size() {
      return size;
    },

    add(key) {
      if (blocks.length === 0) {
        blocks.push([key]);
        size = 1;
        return true;
      }
      // A key above everything goes to the end of the last block.
      const b = Math.min(blockFor(key), blocks.length - 1);
      const block = blocks[b]!;
      const i = lowerBound(block, key);
      if (block[i] === key) return false;
      block.splice(i, 0, key);
      size++;
      if (block.length > blockMaxKeys) blocks.splice(b + 1, 0, block.splice(block.length >>> 1));
      return true;
    },

    delete(key) {
      const b = blockFor(key);
      const block = blocks[b];
      if (!block) return false;
      const i = lowerBound(block, key);
      if (block[i] !== key) return false;
      block.splice(i, 1);
      size--;
      if (block.length === 0) blocks.splice(b, 1);
      return true;
    },

    range(start, startExclusive, end, limit) {
      const out: string[] = [];
      let b = blockFor(start);
      if (b === blocks.length || limit <= 0) return out;
      let i = lowerBound(blocks[b]!, start);
      if (startExclusive && blocks[b]![i] === start) i++;
      for (; b < blocks.length; b++, i = 0) {
        const block = blocks[b]!;
        for (; i < block.length; i++) {
          const key = block[i]!;
          if (end !== undefined && key >= end) return out;
          out.push(key);
          if (out.length === limit) return out;
        }
      }
      return out;
    },
  };
}
