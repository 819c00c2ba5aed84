import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { createDigestTree } from "../../src/gossip/digest-tree.ts";
import { versionHash } from "../../src/replica/version-token.ts";
import type { DocChange } from "../../src/replica/types.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createRegionFanout } from "../../src/server/region-fanout.ts";
import { toHex } from "../../src/storage/bytes.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { memoryReplica, testKey, unclosable } from "../helpers/replicas.ts";

/** Two processes of one region over one store, their notices carried by hand (as NOTIFY would). */
async function twoProcesses() {
  const store = createMemoryStore();
  const keyring = await openKeyring(store, testKey(), createSeededRandom(1));
  const bus: Array<{ from: number; hashes: string[] }> = [];
  const process = async (n: number) => {
    const replica = await memoryReplica({ region: "r", store: unclosable(store) });
    const gossip = { tree: createDigestTree() };
    replica.observe((event) => gossip.tree.set(event.id, event.type === "change" ? versionHash(event.versionBytes) : undefined));
    const fanout = createRegionFanout({
      replica, gossip, store, docHash: (id) => keyring.docHash(id), regionKey: keyring.regionKey,
      notices: { publish: async (hashes) => void bus.push({ from: n, hashes: hashes.map(toHex) }) },
    });
    return { replica, gossip, fanout };
  };
  const one = await process(1);
  const two = await process(2);
  /** Waits for the publishes of this turn, then hands every notice to the other process. */
  const deliver = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    for (const { from, hashes } of bus.splice(0)) await (from === 1 ? two : one).fanout.noticed(hashes);
  };
  const close = async () => {
    one.fanout.stop();
    two.fanout.stop();
    await one.replica.close();
    await two.replica.close();
    await store.close();
  };
  return { one, two, bus, deliver, close, keyring, store };
}

const textOf = async (replica: Awaited<ReturnType<typeof memoryReplica>>, id: string) => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, await replica.encodeState(id));
  return doc.getText("t").toString();
};

describe("region fan-out: change notices between the processes of one region", () => {
  it("announces a write as its keyed hash, and the other process refreshes its copy, its subscribers and its digest tree", async () => {
    const { one, two, bus, deliver, close, keyring } = await twoProcesses();
    try {
      await one.replica.create("doc-a", "yjs");
      await deliver();
      expect(await textOf(two.replica, "doc-a")).toBe(""); // two holds it now
      const heard: DocChange[] = [];
      two.replica.subscribe("doc-a", (change) => heard.push(change));
      await one.replica.change("doc-a", (doc: Y.Doc) => doc.getText("t").insert(0, "from one"));
      await new Promise((resolve) => setImmediate(resolve));
      expect(bus).toEqual([{ from: 1, hashes: [toHex(keyring.docHash("doc-a"))] }]);
      expect(JSON.stringify(bus)).not.toContain("doc-a"); // hashes only
      await deliver();
      expect(heard.map((c) => c.origin)).toEqual(["remote"]);
      expect(await textOf(two.replica, "doc-a")).toBe("from one");
      expect(two.gossip.tree.get("doc-a")).toEqual(one.gossip.tree.get("doc-a"));
      // Two's refresh is not announced back: the change came from the store, not from two.
      await new Promise((resolve) => setImmediate(resolve));
      expect(bus).toEqual([]);
      expect(two.fanout.counts).toMatchObject({ refreshed: 1 });
    } finally {
      await close();
    }
  });

  it("after missed notices, resync finds every document whose record differs from the digest tree", async () => {
    const { one, two, bus, deliver, close } = await twoProcesses();
    try {
      for (const id of ["x", "y", "z"]) await one.replica.create(id, "yjs");
      await deliver();
      expect(await textOf(two.replica, "x")).toBe("");
      await one.replica.change("x", (doc: Y.Doc) => doc.getText("t").insert(0, "missed"));
      await one.replica.change("y", (doc: Y.Doc) => doc.getText("t").insert(0, "missed too"));
      await new Promise((resolve) => setImmediate(resolve));
      bus.splice(0); // lost while two's listening connection was down
      expect(await textOf(two.replica, "x")).toBe(""); // stale
      expect(await two.fanout.resync()).toBe(2); // x and y; z's record matches two's tree
      expect(await textOf(two.replica, "x")).toBe("missed");
      for (const id of ["x", "y", "z"]) expect(two.gossip.tree.get(id)).toEqual(one.gossip.tree.get(id));
      expect(await two.fanout.resync()).toBe(0);
    } finally {
      await close();
    }
  });
});
