/**
 * The anti-entropy hash tree over (document id → version hash), updated on
 * every apply, never rebuilt per round.
 *
 * A document's place is the first `depth` nibbles of BLAKE2b(id) — the same in
 * every region. A node's hash is the XOR of its documents' element hashes
 * (BLAKE2b(id · version hash)), so an update touches depth+1 nodes in O(1)
 * each, and two regions with equal contents have equal roots whatever order
 * their writes arrived in. XOR is fine against honest divergence; regions are
 * authenticated peers, not adversaries choosing collisions.
 */
import { keyedHash } from "../crypto/keyed-hash.ts";
import { assert } from "../errors.ts";

export const treeFanout = 16;
export const elementHashBytes = 16;

export interface NodeDigest {
  hash: Uint8Array;
  count: number;
}

export interface DigestTree {
  /** Sets (or, with `undefined`, removes) a document's version hash. */
  set(id: string, versionHash: Uint8Array | undefined): void;
  /** The element hash of `id`, or undefined. */
  get(id: string): Uint8Array | undefined;
  /** The digest of the node at `path` (a string of hex nibbles; "" is the root). */
  node(path: string): NodeDigest;
  /** The digests of the 16 children of `path`. */
  children(path: string): NodeDigest[];
  /** Every (id, element hash) under `path`. */
  entries(path: string): Array<[string, Uint8Array]>;
  readonly size: number;
  readonly depth: number;
}

const empty = (): NodeDigest => ({ hash: new Uint8Array(elementHashBytes), count: 0 });
const encoder = new TextEncoder();

/** The nibble path of a document id, `depth` hex characters long. */
export function idPath(id: string, depth: number): string {
  const hash = keyedHash(null, id, 16);
  let out = "";
  for (let i = 0; out.length < depth; i++) out += hash[i]!.toString(16).padStart(2, "0");
  return out.slice(0, depth);
}

export function elementHash(id: string, versionHash: Uint8Array): Uint8Array {
  const idBytes = encoder.encode(id);
  const input = new Uint8Array(idBytes.length + 1 + versionHash.length);
  input.set(idBytes, 0);
  input.set(versionHash, idBytes.length + 1); // the zero byte separates id from hash unambiguously
  return keyedHash(null, input, elementHashBytes);
}

/** The deepest tree kept: 16^5 leaves hold 16 MiB of node hashes. */
const maxDepth = 5;

/**
 * `depth` 4 gives 65,536 leaves: a few documents per leaf at a million documents.
 * Node hashes and counts live in two flat arrays, level after level (node `p` of
 * level d at index (16^d − 1)/15 + p): building the tree at start-up sets every
 * document once, and string keys and an object per node made that the largest
 * cost of the build (issue 11).
 */
export function createDigestTree(depth = 4): DigestTree {
  assert(Number.isInteger(depth) && depth >= 1 && depth <= maxDepth, `digest tree depth ${depth} is not in 1..${maxDepth}`);
  const offsets = Array.from({ length: depth + 1 }, (_, d) => (treeFanout ** d - 1) / (treeFanout - 1));
  const nodeCount = offsets[depth]! + treeFanout ** depth;
  const hashes = new Uint8Array(nodeCount * elementHashBytes);
  const counts = new Int32Array(nodeCount);
  const leaves = new Map<string, Map<string, Uint8Array>>();
  const paths = new Map<string, string>();

  /** The node at `path`, or -1 for a path that names none (too long, or not lowercase hex: a peer's mistake). */
  const indexOf = (path: string): number => {
    if (path.length > depth || !/^[0-9a-f]*$/.test(path)) return -1;
    return offsets[path.length]! + (path.length === 0 ? 0 : parseInt(path, 16));
  };
  const digest = (index: number): NodeDigest =>
    index < 0 ? empty() : { hash: hashes.slice(index * elementHashBytes, (index + 1) * elementHashBytes), count: counts[index]! };

  const apply = (path: string, element: Uint8Array, delta: 1 | -1) => {
    const leaf = parseInt(path, 16);
    for (let d = 0; d <= depth; d++) {
      const index = offsets[d]! + Math.floor(leaf / treeFanout ** (depth - d));
      const at = index * elementHashBytes;
      for (let i = 0; i < elementHashBytes; i++) hashes[at + i]! ^= element[i]!;
      counts[index]! += delta;
    }
  };

  return {
    depth,
    get size() {
      return counts[0]!;
    },
    set(id, versionHash) {
      let path = paths.get(id);
      if (path === undefined) path = idPath(id, depth);
      const leaf = leaves.get(path);
      const old = leaf?.get(id);
      if (old) {
        apply(path, old, -1);
        leaf!.delete(id);
        if (leaf!.size === 0) leaves.delete(path);
        paths.delete(id);
      }
      if (versionHash) {
        const element = elementHash(id, versionHash);
        apply(path, element, 1);
        let target = leaves.get(path);
        if (!target) leaves.set(path, (target = new Map()));
        target.set(id, element);
        paths.set(id, path);
      }
    },
    get: (id) => {
      const path = paths.get(id);
      return path === undefined ? undefined : leaves.get(path)?.get(id);
    },
    node: (path) => digest(indexOf(path)),
    children(path) {
      return Array.from({ length: treeFanout }, (_, i) => digest(indexOf(path + i.toString(16))));
    },
    entries(path) {
      const out: Array<[string, Uint8Array]> = [];
      if (path.length === depth) {
        for (const entry of leaves.get(path) ?? []) out.push(entry);
      } else {
        for (const [leafPath, leaf] of leaves) if (leafPath.startsWith(path)) out.push(...leaf);
      }
      return out;
    },
  };
}
