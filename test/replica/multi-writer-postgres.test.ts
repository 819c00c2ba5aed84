/**
 * Two replicas ("processes" of one region) over ONE PostgreSQL store, each
 * with its own connection pool: concurrent writes to the same documents,
 * creation races and compaction, decided by PostgreSQL's transactions. A
 * third replica opened afterwards must read every acknowledged write, with
 * every record chain checked.
 */
import { afterAll, expect, it } from "vitest";
import type { DocKind } from "../../src/doc/engine.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { openPostgresStore } from "../../src/storage/postgres-store.ts";
import { describeWithPostgres, dropSchema, pgTestUrl, testSchemaName } from "../helpers/postgres.ts";
import { testKey } from "../helpers/replicas.ts";

const schema = testSchemaName("multi-writer-postgres.test.ts");
const key = testKey();
let tables = 0;

async function processes(table: string, n: number, seedBase: number): Promise<Replica[]> {
  const out: Replica[] = [];
  for (let i = 0; i < n; i++) {
    const store = await openPostgresStore({ url: pgTestUrl, schema, table });
    out.push(await openReplica({ store, masterKey: key, random: createSeededRandom(seedBase + i), compactMaxLogRecords: 5 }));
  }
  return out;
}

await describeWithPostgres("two processes writing one PostgreSQL store", () => {
  afterAll(() => dropSchema(schema));

  for (const kind of ["yjs", "automerge"] as const satisfies readonly DocKind[]) {
    it(`keeps every acknowledged write of both, pipelined into one ${kind} document and created at once (compacting every 5 records)`, async () => {
      const table = `kv_${++tables}`;
      const [a, b] = await processes(table, 2, 10);
      // Both create it at once: one wins, the other is told it exists.
      const created = await Promise.allSettled([a!.create("d", kind), b!.create("d", kind)]);
      expect(created.filter((c) => c.status === "fulfilled").length).toBe(1);
      const acked: string[] = [];
      for (let round = 0; round < 4; round++) {
        const writes = [a!, b!].flatMap((r, w) => Array.from({ length: 10 }, (_, i) => {
          const value = `${"ab"[w]}${round}-${i}`;
          return r.patch("d", [{ op: "push", path: ["items"], value }, { op: "increment", path: ["stats", "n"], by: 1 }]).then(() => acked.push(value));
        }));
        await Promise.all(writes);
      }
      const conflicts = a!.stats().writeConflicts + b!.stats().writeConflicts;
      console.log(`${kind}: ${acked.length} writes acknowledged by two processes, ${conflicts} appends written again after a conflict`);
      await Promise.all([a!.close(), b!.close()]);
      const [reader] = await processes(table, 1, 50);
      const value = (await reader!.read("d")).value as { items: string[]; stats: { n: number } };
      await reader!.close();
      expect([...value.items].sort()).toEqual([...acked].sort());
      expect(value.stats.n).toBe(acked.length);
    });
  }
});
