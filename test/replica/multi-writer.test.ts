/**
 * Two replicas over ONE shared store: the processes of a region on
 * PostgreSQL, modelled by two handles on one MemoryDisk (the same
 * transaction semantics: conditional batches checked as they land, in order).
 * Every acknowledged write must be in the store, readable by a fresh replica
 * whose load checks the whole record chain (a reused sequence or a forked
 * chain fails it with "corrupt_record").
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DocKind } from "../../src/doc/engine.ts";
import { ConcordError, isConcordError } from "../../src/errors.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { testKey } from "../helpers/replicas.ts";

const key = testKey();
const seedFromEnv = process.env["CONCORD_SEED"];
const seed = seedFromEnv === undefined ? 0x3d1f_0e14 : Number(seedFromEnv);

/** `n` replicas ("processes") over one disk, opened one after the other (the first creates the keyring). */
async function processes(disk: MemoryDisk, n: number, options: { compactMaxLogRecords?: number } = {}): Promise<Replica[]> {
  const out: Replica[] = [];
  for (let i = 0; i < n; i++) out.push(await openReplica({ store: disk.open(), masterKey: key, random: createSeededRandom(100 + i), ...options }));
  return out;
}

/** What a process that starts now reads: the store alone, every record checked. */
async function fresh(disk: MemoryDisk, id: string): Promise<unknown> {
  const [reader] = await processes(disk, 1);
  try {
    return (await reader!.read(id)).value;
  } finally {
    await reader!.close();
  }
}

const pushes = (r: Replica, id: string, who: string, n: number) =>
  Array.from({ length: n }, (_, i) => r.patch(id, [{ op: "push", path: ["items"], value: `${who}${i}` }]).then(() => `${who}${i}`));

describe("two processes writing one shared store", () => {
  for (const kind of ["yjs", "automerge"] as const satisfies readonly DocKind[]) {
    it(`keeps every acknowledged write of both when they push to one ${kind} document at once, pipelined`, async () => {
      const disk = createMemoryDisk();
      const [a, b] = await processes(disk, 2);
      await a!.create("d", kind);
      await b!.read("d"); // both hold it in memory: each write of one makes the other's next append conflict
      const acked = await Promise.all([...pushes(a!, "d", "a", 25), ...pushes(b!, "d", "b", 25)]);
      expect(a!.stats().writeConflicts + b!.stats().writeConflicts).toBeGreaterThan(0); // the race did happen
      await Promise.all([a!.close(), b!.close()]);
      const items = (await fresh(disk, "d") as { items: string[] }).items;
      expect([...items].sort()).toEqual([...acked].sort());
    });
  }

  it("converges when both create the same new document and its containers through JSON ops", async () => {
    for (const kind of ["yjs", "automerge"] as const) {
      const disk = createMemoryDisk();
      const [a, b] = await processes(disk, 2);
      const created = await Promise.allSettled([a!.create("n", kind), b!.create("n", kind)]);
      // Exactly one creation wins; the other is told the document exists, and nothing of it was stored.
      expect(created.map((c) => c.status).sort()).toEqual(["fulfilled", "rejected"]);
      const lost = created.find((c) => c.status === "rejected") as PromiseRejectedResult;
      expect(isConcordError(lost.reason, "exists"), String(lost.reason)).toBe(true);
      // Each process creates the list, the nested maps and the counter its first write needs.
      const ops = (v: string) => [
        { op: "push" as const, path: ["list"], value: v },
        { op: "set" as const, path: ["meta", "sub", v], value: 1 },
        { op: "increment" as const, path: ["stats", "views"], by: 1 },
      ];
      await Promise.all([a!.patch("n", ops("from-a")), b!.patch("n", ops("from-b")), a!.patch("n", ops("a2")), b!.patch("n", ops("b2"))]);
      await Promise.all([a!.close(), b!.close()]);
      const value = (await fresh(disk, "n")) as { list: string[]; meta: { sub: Record<string, number> }; stats: { views: number } };
      const all = ["a2", "b2", "from-a", "from-b"];
      expect([...value.list].sort(), kind).toEqual(all);
      expect(Object.keys(value.meta.sub).sort(), kind).toEqual(all);
      expect(value.stats.views, kind).toBe(4);
    }
  });

  it("creates documents with an initial shape from both processes at once without losing either's first write", async () => {
    const disk = createMemoryDisk();
    const [a, b] = await processes(disk, 2);
    const results = await Promise.all([
      a!.createMany([{ id: "s", kind: "yjs", init: { tags: [] } }, { id: "only-a", kind: "automerge" }]),
      b!.createMany([{ id: "s", kind: "yjs", init: { tags: [] } }, { id: "only-b", kind: "yjs" }]),
    ]);
    const okOfS = results.map((r) => r[0]!.ok);
    expect(okOfS.filter(Boolean).length).toBe(1);
    expect(results[0]![1]!.ok && results[1]![1]!.ok).toBe(true);
    await Promise.all([a!.patch("s", [{ op: "push", path: ["tags"], value: "a" }]), b!.patch("s", [{ op: "push", path: ["tags"], value: "b" }])]);
    await Promise.all([a!.close(), b!.close()]);
    expect([...((await fresh(disk, "s")) as { tags: string[] }).tags].sort()).toEqual(["a", "b"]);
    expect(await fresh(disk, "only-a")).toEqual({});
    expect(await fresh(disk, "only-b")).toEqual({});
  });

  it("drops a compaction that raced the other process's writes and loses nothing", async () => {
    const disk = createMemoryDisk();
    // Compacting every 3 records: both processes fold the log again and again while the other appends.
    const [a, b] = await processes(disk, 2, { compactMaxLogRecords: 3 });
    await a!.create("c", "yjs");
    await b!.read("c");
    const acked: string[] = [];
    for (let round = 0; round < 6; round++) acked.push(...await Promise.all([...pushes(a!, "c", `a${round}-`, 4), ...pushes(b!, "c", `b${round}-`, 4)]));
    expect(a!.stats().compactions + b!.stats().compactions).toBeGreaterThan(0);
    await Promise.all([a!.close(), b!.close()]);
    expect([...((await fresh(disk, "c")) as { items: string[] }).items].sort()).toEqual([...acked].sort());
  });

  it(`keeps every acknowledged write over random interleavings of both processes (seed ${seed})`, async () => {
    const opArb = fc.record({
      process: fc.integer({ min: 0, max: 1 }),
      doc: fc.constantFrom("p", "q"),
      wait: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("yjs", "automerge") as fc.Arbitrary<DocKind>, fc.array(opArb, { minLength: 1, maxLength: 24 }), fc.integer({ min: 2, max: 50 }), async (kind, ops, compactEvery) => {
        const disk = createMemoryDisk();
        const procs = await processes(disk, 2, { compactMaxLogRecords: compactEvery });
        await procs[0]!.create("p", kind);
        await procs[1]!.create("q", kind);
        const acked: Record<string, string[]> = { p: [], q: [] };
        const inFlight: Array<Promise<unknown>> = [];
        for (const [i, op] of ops.entries()) {
          const value = `${op.process}:${i}`;
          const write = procs[op.process]!.patch(op.doc, [{ op: "push", path: ["items"], value }]).then(() => acked[op.doc]!.push(value));
          inFlight.push(write);
          if (op.wait) await write;
        }
        await Promise.all(inFlight);
        await Promise.all(procs.map((p) => p.close()));
        for (const doc of ["p", "q"]) {
          const items = ((await fresh(disk, doc)) as { items?: string[] }).items ?? [];
          expect([...items].sort()).toEqual([...acked[doc]!].sort());
        }
      }),
      { numRuns: 40, seed },
    );
  });

  for (const landed of [false, true]) {
    it(`goes on writing after a store write failed${landed ? " (its batch did land: an outcome unknown to the writer)" : ""}, acknowledging only what is stored`, async () => {
      const disk = createMemoryDisk();
      const inner = disk.open();
      let failNext = false;
      const store: Store = {
        ...inner,
        get: (k) => inner.get(k),
        scan: (p) => inner.scan(p),
        snapshot: () => inner.snapshot(),
        close: () => inner.close(),
        async write(batch, options) {
          if (!failNext) return inner.write(batch, options);
          failNext = false;
          if (landed) await inner.write(batch, options);
          throw new ConcordError("unavailable", "the connection was lost at COMMIT");
        },
      };
      const r = await openReplica({ store, masterKey: key, random: createSeededRandom(7) });
      await r.create("d", "yjs");
      await r.patch("d", [{ op: "push", path: ["items"], value: "before" }]);
      failNext = true;
      const lost = await r.patch("d", [{ op: "push", path: ["items"], value: "failed" }]).then(() => "acked", (e: { code?: string }) => e.code);
      expect(lost).toBe("unavailable");
      // Queued right behind it too: the replica is not wedged.
      await Promise.all([r.patch("d", [{ op: "push", path: ["items"], value: "after1" }]), r.patch("d", [{ op: "push", path: ["items"], value: "after2" }])]);
      const live = ((await r.read("d")).value as { items: string[] }).items;
      await r.close();
      const stored = ((await fresh(disk, "d")) as { items: string[] }).items;
      expect(stored).toEqual(live);
      expect([...stored].sort()).toEqual(landed ? ["after1", "after2", "before", "failed"] : ["after1", "after2", "before"]);
    });
  }

  it("fails a write that built on a failed one with unavailable, and stores none of it", async () => {
    const disk = createMemoryDisk();
    const inner = disk.open();
    let failNext = false;
    const store: Store = {
      get: (k) => inner.get(k),
      scan: (p) => inner.scan(p),
      snapshot: () => inner.snapshot(),
      close: () => inner.close(),
      async write(batch, options) {
        if (!failNext) return inner.write(batch, options);
        failNext = false;
        throw new ConcordError("unavailable", "the connection was lost");
      },
    };
    const r = await openReplica({ store, masterKey: key, random: createSeededRandom(8) });
    await r.create("t", "yjs");
    await r.patch("t", [{ op: "insertText", path: ["text"], index: 0, text: "ab" }]);
    failNext = true;
    const first = r.patch("t", [{ op: "insertText", path: ["text"], index: 2, text: "cd" }]);
    // Inserted after "cd": its delta names an item of the first write, which never reaches the store.
    const second = r.patch("t", [{ op: "insertText", path: ["text"], index: 4, text: "ef" }]);
    const codes = await Promise.all([first, second].map((p) => p.then(() => "acked", (e: { code?: string }) => e.code)));
    expect(codes).toEqual(["unavailable", "unavailable"]);
    await r.patch("t", [{ op: "insertText", path: ["text"], index: 2, text: "!" }]);
    await r.close();
    expect(await fresh(disk, "t")).toEqual({ text: "ab!" });
  });
});
