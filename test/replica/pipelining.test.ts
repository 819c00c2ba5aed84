/**
 * A writer with several deltas in flight: one that arrives before the
 * updates it builds on waits for them (client-pending.ts) instead of being
 * refused, is acknowledged once applied and durable, and is refused with
 * "missing_dependencies" if they never come.
 */
import { describe, expect, it } from "vitest";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

/** Fisher–Yates with a seeded generator. */
function shuffled<T>(items: T[], seed: number): T[] {
  const random = createSeededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random.float() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("pipelined client deltas", () => {
  it("acknowledges every delta of a shuffled pipeline once its predecessors arrive, in any order", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100_000);
    console.log(`pipelining seed ${seed} (SEED=${seed} to repeat)`);
    const r = await memoryReplica();
    await r.create("d", "yjs");
    const client = yjsClient(77);
    const deltas = Array.from({ length: 64 }, (_, i) => client.insert(String.fromCharCode(97 + (i % 26))));
    const acks = await Promise.all(shuffled(deltas, seed).map((delta) => r.update("d", delta)));
    expect(acks.every((a) => a.changed)).toBe(true);
    expect((await r.read("d")).value).toEqual({ text: client.doc.getText("text").toString() });
    expect(r.stats().pendingClientDeltas).toBe(0);
    // Each is refused at most once on arrival; a waiting one is tried again only once its own client's clock reaches it.
    expect(r.stats().rejectedDeltas).toBeLessThanOrEqual(64);
    await r.close();
  });

  it("applies a waiting delta when its predecessor comes from another region", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    const client = yjsClient(5);
    const first = client.insert("one ");
    const second = client.insert("two");
    const waiting = r.update("d", second);
    await r.applyRemote("d", "yjs", first);
    expect((await waiting).changed).toBe(true);
    expect((await r.read("d")).value).toEqual({ text: "one two" });
    await r.close();
  });

  it("refuses a delta whose predecessors never come, after its wait, having changed nothing", async () => {
    const clock = createManualClock(1_000);
    const r = await memoryReplica({ clock });
    await r.create("d", "yjs");
    const client = yjsClient(6);
    client.insert("never sent ");
    const orphan = client.insert("orphan");
    const refused = r.update("d", orphan, { timeoutMs: 2000 }).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.stats().pendingClientDeltas).toBe(1);
    clock.advance(1999);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.stats().pendingClientDeltas).toBe(1);
    clock.advance(1);
    expect(await refused).toMatchObject({ code: "invalid_update", details: { reason: "missing_dependencies" } });
    expect(String((await refused as Error).message)).toMatch(/waited 2000 ms/);
    expect(r.stats().pendingClientDeltas).toBe(0);
    expect((await r.read("d")).value).toEqual({});
    await r.close();
  });

  it("refuses what still waits when the replica closes", async () => {
    const r = await memoryReplica();
    await r.create("d", "yjs");
    const client = yjsClient(8);
    client.insert("a");
    const waiting = r.update("d", client.insert("b")).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    await r.close();
    expect(await waiting).toMatchObject({ code: "closed" });
  });
});
