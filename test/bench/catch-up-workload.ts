/**
 * The peers' catch-up workload (issue 11): a seeded mulberry32 generator
 * makes `docs` Yjs documents; each gets `edits` edits, and each edit inserts
 * 1–10 random characters at a random position of a text field and sets one
 * of 8 map keys to a random integer. Each edit is one Yjs update, made by a
 * writer's own Y.Doc per document.
 */
import * as Y from "yjs";

/** mulberry32: a tiny seeded generator, the same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CatchUpDoc {
  id: string;
  updates: Uint8Array[];
  /** What the document holds once every update applied: { text, map }. */
  expected: { text: string; map: Record<string, number> };
  /** Y.encodeStateAsUpdate of the final document: the reference for bytes. */
  stateBytes: number;
}

const alphabet = "abcdefghijklmnopqrstuvwxyz ";

/** One edit of the peers' workload: insert `chars` at `pos` of the text, and set map key `key` to `value`. */
export interface PeerEdit {
  pos: number;
  chars: string;
  key: string;
  value: number;
}

/** The peers' workload as plain edits, per document (so any engine can replay the same ones). */
export function peerEdits(seed: number, docs: number, edits: number): PeerEdit[][] {
  const random = mulberry32(seed);
  const int = (n: number) => Math.floor(random() * n);
  return Array.from({ length: docs }, () => {
    let length = 0;
    return Array.from({ length: edits }, () => {
      let chars = "";
      for (let i = 1 + int(10); i > 0; i--) chars += alphabet[int(alphabet.length)];
      const pos = int(length + 1);
      length += chars.length;
      return { pos, chars, key: `k${int(8)}`, value: int(1_000_000) };
    });
  });
}

export function catchUpWorkload(seed: number, docs: number, edits: number): CatchUpDoc[] {
  return peerEdits(seed, docs, edits).map((list, d) => {
    const doc = new Y.Doc();
    doc.clientID = 1 + d;
    const updates: Uint8Array[] = [];
    doc.on("update", (update: Uint8Array) => updates.push(update));
    const text = doc.getText("text");
    const map = doc.getMap<number>("map");
    for (const edit of list) {
      doc.transact(() => {
        text.insert(edit.pos, edit.chars);
        map.set(edit.key, edit.value);
      });
    }
    const expected = { text: text.toString(), map: map.toJSON() as Record<string, number> };
    return { id: `catchup-${d}`, updates, expected, stateBytes: Y.encodeStateAsUpdate(doc).length };
  });
}
