/**
 * Queries against a plain in-memory filter over the same canonical JSON, across
 * random documents, random local and remote changes, deletes, and a power cut
 * with writes in flight. The seed is printed in the test name; set
 * CONCORD_SEED to replay one.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createMemoryDisk } from "../../src/storage/memory-store.ts";
import type { DocKind } from "../../src/doc/engine.ts";
import { conditionMatches } from "../../src/query/condition-match.ts";
import { compareIndexValues } from "../../src/query/order-encoding.ts";
import { valueAtPath } from "../../src/query/index-values.ts";
import type { Condition } from "../../src/query/query-spec.ts";
import type { IndexType, IndexValue } from "../../src/query/index-definition.ts";
import { ticks } from "../helpers/gated-store.ts";
import { testKey } from "../helpers/replicas.ts";

const seedFromEnv = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.["CONCORD_SEED"];
const seed = seedFromEnv === undefined ? Date.now() % 1_000_000 : Number(seedFromEnv);

const fields = { s: "string", n: "number", b: "boolean" } as const satisfies Record<string, IndexType>;
type Field = keyof typeof fields;
const ids = ["d0", "d1", "d2", "d3", "d4", "d5"];
const kindOf = (id: string): DocKind => (Number(id.slice(1)) % 2 ? "yjs" : "automerge");

const typed: Record<Field, unknown[]> = { s: ["", "a", "ab", "b", "é"], n: [-1.5, 0, 1, 2, 10], b: [true, false] };
// Mostly a value of the field's indexed type; sometimes another type, which the index must leave out.
const setOp = fc.constantFrom<Field>("s", "n", "b").chain((field) =>
  fc.record({
    t: fc.constant("set" as const), side: fc.constantFrom("local", "remote"), id: fc.constantFrom(...ids), field: fc.constant(field),
    value: fc.oneof({ arbitrary: fc.constantFrom(...typed[field]), weight: 6 }, { arbitrary: fc.constantFrom<unknown>("x", 3, true), weight: 1 }),
  }));
const op = fc.oneof(
  { arbitrary: setOp, weight: 8 },
  { arbitrary: fc.record({ t: fc.constant("unset" as const), side: fc.constantFrom("local", "remote"), id: fc.constantFrom(...ids), field: fc.constantFrom<Field>("s", "n", "b") }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant("delete" as const), id: fc.constantFrom(...ids) }), weight: 1 },
);
const condition: fc.Arbitrary<Condition> = fc.oneof(
  fc.record({ path: fc.constant("meta.s"), op: fc.constantFrom("==", "!=", "<", ">=", "prefix") as fc.Arbitrary<Condition["op"]>, value: fc.constantFrom("", "a", "ab", "b") }),
  fc.record({ path: fc.constant("meta.s"), op: fc.constant("in" as const), value: fc.subarray(["a", "b", "é", ""], { minLength: 1 }) }),
  fc.record({ path: fc.constant("meta.n"), op: fc.constantFrom("==", "!=", "<", "<=", ">", ">=") as fc.Arbitrary<Condition["op"]>, value: fc.constantFrom(-1.5, 0, 1, 2, 10) }),
  fc.record({ path: fc.constant("meta.b"), op: fc.constantFrom("==", "!=") as fc.Arbitrary<Condition["op"]>, value: fc.boolean() }),
);
const query = fc.record({
  where: fc.array(condition, { minLength: 1, maxLength: 3 }),
  orderBy: fc.option(fc.constant("meta.n"), { nil: undefined }),
  limit: fc.integer({ min: 1, max: 4 }),
});

const typeOfPath = (path: string): IndexType => fields[path.slice(5) as Field];

async function allPages(r: Replica, q: { where: Condition[]; orderBy?: string | undefined; limit: number }): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await r.query({ where: q.where, limit: q.limit, ...(q.orderBy ? { orderBy: q.orderBy } : {}), ...(cursor ? { cursor } : {}) });
    out.push(...page.ids);
    cursor = page.cursor;
    if (!cursor) return out;
  }
  throw new Error("more than 100 pages");
}

describe("queries match a plain filter", () => {
  it(`over random local and remote changes and a crash (seed ${seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), fc.nat(40), fc.nat(8), fc.array(query, { minLength: 1, maxLength: 6 }), async (ops, crashAt, landed, queries) => {
        const clock = createManualClock(0);
        const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
        const key = testKey();
        const random = createSeededRandom(7);
        const run = async <T>(p: Promise<T>): Promise<T> => {
          let done = false;
          p.then(() => (done = true), () => (done = true));
          while (!done) {
            await ticks(3);
            clock.advance(10);
          }
          return p;
        };
        let a = await run(openReplica({ store: disk.open(), masterKey: key, random, clock, region: "a" }));
        const b = await openReplica({ store: createMemoryDisk().open(), masterKey: key, random: createSeededRandom(8), region: "b" });
        const shipped: Array<{ id: string; kind: DocKind; delta: Uint8Array }> = [];
        b.subscribeAll((e) => void shipped.push({ id: e.id, kind: e.kind, delta: e.delta }));
        await run(a.defineIndex({ name: "s", path: "meta.s", type: "string", kind: "order" }));
        await run(a.defineIndex({ name: "n", path: "meta.n", type: "number", kind: "order" }));
        await run(a.defineIndex({ name: "b", path: "meta.b", type: "boolean" }));
        await run(a.indexesSettled());
        const deleted = new Set<string>();
        const apply = async (r: Replica, o: (typeof ops)[number]) => {
          if (deleted.has(o.id)) return;
          if (o.t === "delete") {
            deleted.add(o.id);
            await r.delete(o.id);
            return;
          }
          if ((await r.status(o.id)).state === "absent") await r.create(o.id, kindOf(o.id), { init: { meta: {} } }).catch(() => undefined);
          await r.patch(o.id, o.t === "set" ? [{ op: "set", path: ["meta", o.field], value: o.value }] : [{ op: "delete", path: ["meta", o.field] }]).catch(() => undefined);
        };
        for (const [i, o] of ops.entries()) {
          if (i === crashAt) {
            // A power cut with this write and the next ones in flight; `landed` of them may reach the disk.
            for (const next of ops.slice(i, i + 3)) if (next.t !== "delete" && ("side" in next && next.side === "local")) void apply(a, next).catch(() => undefined);
            await ticks(20);
            disk.crash({ applyInFlight: (n) => n < landed });
            a = await run(openReplica({ store: disk.open(), masterKey: key, random, clock, region: "a" }));
            await run(a.indexesSettled());
            continue;
          }
          if (o.t === "delete" || o.side === "local") await run(apply(a, o));
          else {
            await apply(b, o);
            for (const s of shipped.splice(0)) await run(a.applyRemote(s.id, s.kind, s.delta).catch(() => false));
          }
        }
        // The reference: every live document's JSON view, filtered in memory.
        const views = new Map<string, unknown>();
        for await (const id of a.list()) if (!id.startsWith("~")) views.set(id, (await run(a.read(id))).value);
        for (const q of queries) {
          // Ordering by a path lists only documents with a value there (the order index is sparse).
          const ordered = (json: unknown) => !q.orderBy || typeof valueAtPath(json, q.orderBy) === "number";
          const expected = [...views]
            .filter(([, json]) => ordered(json) && q.where.every((c) => conditionMatches(typeOfPath(c.path), c, valueAtPath(json, c.path) as IndexValue)))
            .map(([id]) => id);
          const got = await run(allPages(a, q));
          expect([...got].sort()).toEqual(expected.sort());
          expect(new Set(got).size).toBe(got.length);
          if (q.orderBy) {
            const ns = got.map((id) => valueAtPath(views.get(id), "meta.n") as number);
            for (let i = 1; i < ns.length; i++) expect(compareIndexValues("number", ns[i - 1]!, ns[i]!)).toBeLessThanOrEqual(0);
          }
        }
        await run(a.close());
        await b.close();
      }),
      { numRuns: 30, seed },
    );
  }, 600_000);
});
