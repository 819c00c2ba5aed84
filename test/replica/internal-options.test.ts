import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { openReplica, type Replica, type ReplicaOptions } from "../../src/index.ts";
import { openInternalReplica, type InjectedBugs } from "../../src/internal.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { gated, ticks } from "../helpers/gated-store.ts";
import { testKey } from "../helpers/replicas.ts";

/** Whether a write is acknowledged while its store write is still held (ackBeforeDurable would). */
async function ackedBeforeDurable(open: (options: ReplicaOptions) => Promise<Replica>): Promise<boolean> {
  const store = gated(createMemoryStore());
  const r = await open({ store, masterKey: testKey(), clock: createManualClock(1_700_000_000_000), random: createSeededRandom(1) });
  await r.create("doc", "yjs");
  store.holdWrites();
  let acked = false;
  const write = r.change("doc", (d: Y.Doc) => d.getText("t").insert(0, "x")).then(() => (acked = true));
  await ticks();
  const early = acked;
  store.freeWrites();
  await write;
  await r.close();
  return early;
}

describe("internal replica options", () => {
  const bugs: InjectedBugs = { ackBeforeDurable: true };

  it("applies injected bugs only through the internal entry", async () => {
    expect(await ackedBeforeDurable((o) => openInternalReplica({ ...o, bugs }))).toBe(true);
    expect(await ackedBeforeDurable((o) => openInternalReplica(o))).toBe(false);
  });

  it("drops injected bugs handed to the public openReplica by an untyped caller", async () => {
    expect(await ackedBeforeDurable((o) => openReplica({ ...o, bugs } as ReplicaOptions))).toBe(false);
  });
});
