import { describe, expect, it } from "vitest";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { valueAtPath } from "../../src/query/index-values.ts";
import { testKey } from "../helpers/replicas.ts";

const key = testKey();

/** A store over `disk` that cuts the power as its `crashAt`-th write is issued (that write is lost). */
function crashingStore(disk: MemoryDisk, crashAt: number): { store: Store; crashed: Promise<void>; writes: () => number } {
  const inner = disk.open();
  let writes = 0;
  let fire!: () => void;
  const crashed = new Promise<void>((resolve) => (fire = resolve));
  const store: Store = {
    get: (k) => inner.get(k),
    scan: (p) => inner.scan(p),
    snapshot: () => inner.snapshot(),
    close: () => inner.close(),
    write(batch) {
      if (++writes === crashAt) {
        disk.crash();
        fire();
        return new Promise<void>(() => undefined); // the process is gone: nobody hears back
      }
      return inner.write(batch);
    },
  };
  return { store, crashed, writes: () => writes };
}

/** Indexes, documents, local and remote changes and deletes: each step one or more store writes. */
async function workload(r: Replica): Promise<void> {
  await r.defineIndex({ name: "status", path: "meta.status", type: "string" });
  await r.defineIndex({ name: "prio", path: "meta.prio", type: "number", kind: "order" });
  await r.createMany([
    { id: "a", kind: "yjs", init: { meta: { status: "open", prio: 1 } } },
    { id: "b", kind: "automerge", init: { meta: { status: "open", prio: 2 } } },
  ]);
  await r.create("c", "yjs", { init: { meta: {} } });
  await r.patch("c", [{ op: "set", path: ["meta", "status"], value: "done" }]);
  await r.patch("a", [{ op: "set", path: ["meta", "status"], value: "done" }, { op: "set", path: ["meta", "prio"], value: 5 }]);
  // A remote change: a document made elsewhere, arriving as its deltas.
  const other = await openReplica({ store: createMemoryDisk().open(), masterKey: key, random: createSeededRandom(9), region: "other" });
  const deltas: Array<{ id: string; kind: "yjs" | "automerge"; delta: Uint8Array }> = [];
  other.subscribeAll((e) => void deltas.push({ id: e.id, kind: e.kind, delta: e.delta }));
  await other.create("r", "automerge", { init: { meta: { status: "open" } } });
  await other.patch("r", [{ op: "set", path: ["meta", "prio"], value: 3 }]);
  await other.close();
  for (const d of deltas) await r.applyRemote(d.id, d.kind, d.delta);
  await r.delete("b");
  await r.patch("c", [{ op: "delete", path: ["meta", "status"] }, { op: "set", path: ["meta", "prio"], value: 4 }]);
}

/** Every (document, index) value the documents hold must have exactly one entry, and queries must agree. */
async function checkConsistent(r: Replica, disk: MemoryDisk): Promise<void> {
  if (r.listIndexes().length < 2) {
    // The crash came before the definitions were durable: define them as the operator would again.
    await r.defineIndex({ name: "status", path: "meta.status", type: "string" });
    await r.defineIndex({ name: "prio", path: "meta.prio", type: "number", kind: "order" });
  }
  await r.indexesSettled();
  const views = new Map<string, unknown>();
  for await (const id of r.list()) if (!id.startsWith("~")) views.set(id, (await r.read(id)).value);
  let expectedEntries = 0;
  for (const json of views.values()) {
    if (typeof valueAtPath(json, "meta.status") === "string") expectedEntries++;
    if (typeof valueAtPath(json, "meta.prio") === "number") expectedEntries++;
  }
  const entries = disk.entries().filter(([k]) => k[0] === 0x51 || k[0] === 0x52).length;
  expect(entries).toBe(expectedEntries);
  for (const status of ["open", "done"]) {
    const got = (await r.query({ where: [{ path: "meta.status", op: "==", value: status }] })).ids.sort();
    expect(got).toEqual([...views].filter(([, v]) => valueAtPath(v, "meta.status") === status).map(([id]) => id).sort());
  }
  const ordered = (await r.query({ where: [{ path: "meta.prio", op: ">", value: 0 }], orderBy: "meta.prio" })).ids;
  const byPrio = [...views].filter(([, v]) => typeof valueAtPath(v, "meta.prio") === "number")
    .sort(([, x], [, y]) => (valueAtPath(x, "meta.prio") as number) - (valueAtPath(y, "meta.prio") as number)).map(([id]) => id);
  expect(ordered).toEqual(byPrio);
}

describe("index entries at rest", () => {
  it("stay consistent with the documents after a crash at every store write", async () => {
    // Count the writes of a whole run first.
    const probeDisk = createMemoryDisk();
    const probe = crashingStore(probeDisk, Number.POSITIVE_INFINITY);
    const full = await openReplica({ store: probe.store, masterKey: key, random: createSeededRandom(1) });
    await workload(full);
    await full.indexesSettled();
    const total = probe.writes();
    await checkConsistent(full, probeDisk);
    await full.close();
    expect(total).toBeGreaterThan(10);
    for (let crashAt = 1; crashAt <= total; crashAt++) {
      const disk = createMemoryDisk();
      const { store, crashed } = crashingStore(disk, crashAt);
      const run = async () => {
        const r = await openReplica({ store, masterKey: key, random: createSeededRandom(1) });
        await workload(r);
        await r.indexesSettled();
      };
      // The run stops at the crash: the process that made it is gone (its promises never settle).
      await Promise.race([run().catch(() => undefined), crashed]);
      const reopened = await openReplica({ store: disk.open(), masterKey: key, random: createSeededRandom(2) });
      try {
        await checkConsistent(reopened, disk);
      } catch (error) {
        throw new Error(`after a crash at store write ${crashAt} of ${total}: ${String(error)}`, { cause: error });
      }
      await reopened.close();
    }
  }, 120_000);

  it("hold no indexed value and no document id in readable form (canary)", async () => {
    const disk = createMemoryDisk();
    const r = await openReplica({ store: disk.open(), masterKey: key, random: createSeededRandom(3) });
    await r.defineIndex({ name: "owner", path: "meta.owner", type: "string" });
    await r.defineIndex({ name: "title", path: "meta.title", type: "string", kind: "order" });
    await r.defineIndex({ name: "score", path: "meta.score", type: "number", kind: "order" });
    await r.create("CANARY-ID-4711", "yjs", { init: { meta: { owner: "canary-owner-0815", title: "canary-title-0042", score: 31337.5 } } });
    await r.create("CANARY-ID-4712", "automerge", { init: { meta: { owner: "canary-owner-0815", title: "canary-title-0043" } } });
    expect((await r.query({ where: [{ path: "meta.title", op: "prefix", value: "canary-title-004" }], orderBy: "meta.title" })).ids).toEqual(["CANARY-ID-4711", "CANARY-ID-4712"]);
    await r.close();
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");
    const all = disk.entries().map(([k, v]) => text(k) + text(v)).join("\n");
    for (const needle of ["CANARY", "canary", "4711", "0815", "title-0042", "31337"]) expect(all.includes(needle), needle).toBe(false);
    // Nor the number's bytes, or its sortable form.
    const f = Buffer.alloc(8);
    f.writeDoubleBE(31337.5);
    expect(all.includes(text(f))).toBe(false);
    f[0]! ^= 0x80;
    expect(all.includes(text(f))).toBe(false);
  });
});
