import { beforeAll, describe, expect, it } from "vitest";
import { keyedHash } from "../../src/crypto/keyed-hash.ts";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createDigestTree, elementHash, idPath, type DigestTree } from "../../src/gossip/digest-tree.ts";
import { mulberry32 } from "../bench/catch-up-workload.ts";

beforeAll(async () => {
  await loadSodium();
});

const seed = Number(process.env.TREE_SEED ?? 20261207);
console.log(`digest tree: seed ${seed} (replay: TREE_SEED=${seed})`);

const version = (v: number) => keyedHash(null, `v${v}`, 16);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Every node's digest, by path, down to the leaves. */
function allNodes(tree: DigestTree): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (path: string) => {
    const node = tree.node(path);
    out.set(path, `${hex(node.hash)}:${node.count}`);
    if (path.length < tree.depth) for (let i = 0; i < 16; i++) visit(path + i.toString(16));
  };
  visit("");
  return out;
}

describe(`the digest tree (seed ${seed})`, () => {
  it("holds, at every node, the XOR and count of the element hashes of the documents under it, whatever the order of sets and removals", () => {
    const random = mulberry32(seed);
    const model = new Map<string, Uint8Array>();
    const a = createDigestTree(2);
    const b = createDigestTree(2);
    const ops: Array<[string, Uint8Array | undefined]> = [];
    for (let i = 0; i < 3000; i++) {
      const id = `doc-${Math.floor(random() * 400)}`;
      const value = random() < 0.2 ? undefined : version(Math.floor(random() * 5));
      ops.push([id, value]);
      if (value) model.set(id, value);
      else model.delete(id);
      a.set(id, value);
    }
    // b gets only the final state, in reverse order.
    for (const [id, value] of [...model].reverse()) b.set(id, value);
    expect(allNodes(a)).toEqual(allNodes(b));
    expect(a.size).toBe(model.size);
    for (const [id, value] of model) expect(hex(a.get(id)!)).toBe(hex(elementHash(id, value)));
    // The model's own digests for one leaf and the root.
    const expected = (prefix: string) => {
      const hash = new Uint8Array(16);
      let count = 0;
      for (const [id, value] of model) {
        if (!idPath(id, 2).startsWith(prefix)) continue;
        elementHash(id, value).forEach((byte, i) => (hash[i]! ^= byte));
        count++;
      }
      return `${hex(hash)}:${count}`;
    };
    const nodes = allNodes(a);
    for (const path of ["", "0", "f", "3a", "c7"]) expect(nodes.get(path)).toBe(expected(path));
    for (const id of model.keys()) a.set(id, undefined);
    expect([...allNodes(a).values()].every((digest) => digest === `${"0".repeat(32)}:0`)).toBe(true);
  });

  it("answers a path that names no node (too deep, not lowercase hex) with an empty digest", () => {
    const tree = createDigestTree(2);
    tree.set("x", version(1));
    for (const path of ["000", "zz", "A", "-1", "0x"]) expect(tree.node(path)).toEqual({ hash: new Uint8Array(16), count: 0 });
    expect(tree.children("ab").every((child) => child.count === 0)).toBe(true);
  });
});
