import { describe, expect, it } from "vitest";
import type { ReplicaEvent } from "../../src/replica/types.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

async function ids(list: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of list) out.push(id);
  return out;
}

describe("Replica.applyRemote", () => {
  it("creates nothing when the first delta of an unknown document is invalid", async () => {
    const r = await memoryReplica();
    const events: ReplicaEvent[] = [];
    r.observe((e) => events.push(e));
    await expect(r.applyRemote("never-written", "yjs", Uint8Array.of(1, 2, 3, 4, 5))).rejects.toMatchObject({ code: "invalid_update" });
    await expect(r.applyRemote("never-written-a", "automerge", Uint8Array.of(9, 9, 9))).rejects.toMatchObject({ code: "invalid_update" });
    expect(await r.status("never-written")).toEqual({ state: "absent" });
    expect(await r.status("never-written-a")).toEqual({ state: "absent" });
    expect(events).toEqual([]);
    expect(await ids(r.list())).toEqual([]);
    expect(r.stats().rejectedDeltas).toBe(2);
    await r.close();
  });

  it("creates nothing for a delta that still lacks its dependencies, and creates the document once they arrive", async () => {
    const r = await memoryReplica();
    const client = yjsClient(7);
    const first = client.insert("one");
    const second = client.insert("two");
    await expect(r.applyRemote("d", "yjs", second)).rejects.toMatchObject({ details: { reason: "missing_dependencies" } });
    expect(await r.status("d")).toEqual({ state: "absent" });
    expect(await r.applyRemote("d", "yjs", first)).toBe(true);
    expect(await r.applyRemote("d", "yjs", second)).toBe(true);
    expect((await r.read("d")).value).toEqual({ text: "onetwo" });
    await r.close();
  });

  it("creates a document from a whole state of either kind", async () => {
    const origin = await memoryReplica();
    await origin.create("y", "yjs");
    await origin.create("a", "automerge");
    await origin.update("y", yjsClient(3).insert("hello"));
    await origin.change("a", (doc: { list?: string[] }) => {
      doc.list = ["x", "y"];
    });
    const r = await memoryReplica();
    expect(await r.applyRemote("y", "yjs", await origin.encodeState("y"))).toBe(true);
    expect(await r.applyRemote("a", "automerge", await origin.encodeState("a"))).toBe(true);
    expect((await r.read("y")).value).toEqual({ text: "hello" });
    expect((await r.read("a")).value).toEqual({ list: ["x", "y"] });
    expect((await r.read("a")).version).toBe((await origin.read("a")).version);
    await origin.close();
    await r.close();
  });
});
