import { describe, expect, it } from "vitest";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { openReplica, Replica } from "../../src/replica/replica.ts";
import { versionHash } from "../../src/replica/version-token.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createDocStore } from "../../src/storage/doc-store.ts";
import { createMemoryDisk } from "../../src/storage/memory-store.ts";
import { ticks } from "../helpers/gated-store.ts";
import { testKey, yjsClient } from "../helpers/replicas.ts";

describe("version records", () => {
  it("never claim an older version than the store holds after a crash in the middle of a split backlog", async () => {
    const clock = createManualClock(0);
    const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
    const key = testKey();
    const random = createSeededRandom(1);
    // Runs `p` to completion, moving virtual time on while it waits for the disk.
    const run = async <T>(p: Promise<T>): Promise<T> => {
      let done = false;
      p.then(() => (done = true), () => (done = true));
      while (!done) {
        await ticks(3);
        clock.advance(10);
      }
      return p;
    };
    const store = disk.open();
    const keyring = await run(openKeyring(store, key, random));
    // One byte per batch: every append gets a batch of its own, so a backlog of two splits.
    const docs = createDocStore(store, keyring, random, { maxBatchBytes: 1, clock });
    const r = new Replica({ store, masterKey: key, random, clock }, docs, await run(docs.nextEpoch()));
    await run(r.create("d", "yjs"));
    const client = yjsClient(1);
    let acked = false;
    void r.update("d", client.insert("ACKED")).then(() => (acked = true));
    void r.update("d", client.insert("-lost")); // queued behind it, in the next batch
    await ticks(3);
    clock.advance(10); // the first batch lands; the second is in flight
    await ticks(5);
    expect(acked).toBe(true);
    expect(disk.inFlight()).toBe(1);
    disk.crash();

    const reopened = await run(openReplica({ store: disk.open(), masterKey: key, random, clock }));
    const held = await run(reopened.status("d"));
    if (held.state !== "present") throw new Error("the document is gone");
    expect((await run(reopened.read("d"))).value).toEqual({ text: "ACKED" });
    const inventory = new Map<string, Uint8Array>();
    await run((async () => {
      for await (const { id, versionHash: hash } of reopened.inventory()) inventory.set(id, hash);
    })());
    // What anti-entropy compares must be what the store holds, or a peer without "ACKED" would compare equal.
    expect(inventory.get("d")).toEqual(versionHash(held.version));
    await run(reopened.close());
  });
});
