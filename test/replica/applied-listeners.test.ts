/**
 * "applied" subscribers hear of a change as soon as it is applied, before it
 * is durable, once per change; durable subscribers and acks still wait for the disk.
 */
import { describe, expect, it } from "vitest";
import { openReplica } from "../../src/replica/replica.ts";
import type { DocChange } from "../../src/replica/types.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { gated, ticks } from "../helpers/gated-store.ts";
import { testKey, yjsClient } from "../helpers/replicas.ts";

describe("applied listeners", () => {
  it("hear a write while its store write is held; durable listeners and the ack only after it", async () => {
    const store = gated(createMemoryStore());
    const r = await openReplica({ store, masterKey: testKey(), random: createSeededRandom(1) });
    await r.create("d", "yjs");
    const applied: DocChange[] = [];
    const durable: DocChange[] = [];
    r.subscribe("d", (c) => applied.push(c), { when: "applied" });
    r.subscribe("d", (c) => durable.push(c));
    const appliedAnywhere: DocChange[] = [];
    r.subscribeAll((c) => appliedAnywhere.push(c), { when: "applied" });
    const delta = yjsClient(1).insert("early");
    store.holdWrites();
    let acked = false;
    const write = r.update("d", delta).then(() => (acked = true));
    await ticks();
    expect(applied.map((c) => c.delta)).toEqual([delta]);
    expect(applied[0]!.origin).toBe("local");
    expect(appliedAnywhere.map((c) => c.delta)).toEqual([delta]);
    expect(durable).toEqual([]);
    expect(acked).toBe(false);
    store.freeWrites();
    await write;
    expect(durable.map((c) => c.delta)).toEqual([delta]);
    expect(applied).toHaveLength(1); // not again once durable
    expect(appliedAnywhere).toHaveLength(1);
    expect(durable[0]!.version).toBe(applied[0]!.version);
    await r.close();
  });

  it("hear changes the write path announces only once durable (a creation), exactly once", async () => {
    const r = await openReplica({ store: createMemoryStore(), masterKey: testKey(), random: createSeededRandom(2) });
    const applied: DocChange[] = [];
    r.subscribe("new", (c) => applied.push(c), { when: "applied" });
    await r.create("new", "yjs", { init: { meta: { title: "x" } } });
    await r.patch("new", [{ op: "set", path: ["meta", "title"], value: "y" }]);
    expect(applied).toHaveLength(2);
    await r.close();
  });
});
