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

function xorInto(target: Uint8Array, value: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i]! ^= value[i]!;
}

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

/** `depth` 4 gives 65,536 leaves: a few documents per leaf at a million documents. */
export function createDigestTree(depth = 4): DigestTree {
  const nodes = new Map<string, NodeDigest>();
  const leaves = new Map<string, Map<string, Uint8Array>>();
  const paths = new Map<string, string>();

  const apply = (path: string, element: Uint8Array, delta: 1 | -1) => {
    for (let d = 0; d <= depth; d++) {
      const key = path.slice(0, d);
      let node = nodes.get(key);
      if (!node) nodes.set(key, (node = empty()));
      xorInto(node.hash, element);
      node.count += delta;
      if (node.count === 0) nodes.delete(key);
    }
  };

  return {
    depth,
    get size() {
      return nodes.get("")?.count ?? 0;
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
    node(path) {
      const node = nodes.get(path);
      return node ? { hash: node.hash.slice(), count: node.count } : empty();
    },
    children(path) {
      return Array.from({ length: treeFanout }, (_, i) => {
        const node = nodes.get(path + i.toString(16));
        return node ? { hash: node.hash.slice(), count: node.count } : empty();
      });
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
