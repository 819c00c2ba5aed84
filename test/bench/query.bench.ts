/**
 * Issue 15's query rows, in one embedded region on LMDB (durable):
 * - an indexed equality query returning 50 ids, next to a full scan (list
 *   every document, read and filter it) in the same run;
 * - an ordered range query (50 ids);
 * - the backfill rate of an index defined over the existing documents;
 * - the cost per write of maintaining 1 and 5 indexes against none (fresh
 *   stores, the same writes: 64 concurrent writers, so group commit batches
 *   them and the CPU cost shows rather than fsync latency).
 * BENCH_QUERY_DOCS documents (default 100 000), BENCH_QUERY_WRITES writes (default 5 000).
 */
import { openReplica } from "../../src/node.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { systemRandom } from "../../src/runtime/random.ts";
import { tempDir } from "../helpers/replicas.ts";
import { opsPerSec, table, timed } from "./harness.ts";

const statuses = ["open", "done", "blocked", "review"];

async function fill(replica: Replica, n: number): Promise<void> {
  for (let start = 0; start < n; start += 1000) {
    const items = Array.from({ length: Math.min(1000, n - start) }, (_, j) => {
      const i = start + j;
      // Exactly 50 documents hold "needle".
      const status = i % Math.floor(n / 50) === 0 && i / Math.floor(n / 50) < 50 ? "needle" : statuses[i % 4]!;
      return { id: `doc-${i}`, kind: "yjs" as const, init: { meta: { status, prio: i % 1000, owner: `user-${i % 97}` } } };
    });
    const results = await replica.createMany(items);
    if (!results.every((r) => r.ok)) throw new Error("a batch create failed");
  }
}

async function fullScan(replica: Replica): Promise<number> {
  let found = 0;
  for await (const id of replica.list()) {
    const value = (await replica.read(id)).value as { meta?: { status?: string } };
    if (value.meta?.status === "needle") found++;
  }
  return found;
}

async function writeCost(indexes: number, writes: number): Promise<number> {
  const dir = await tempDir("concord-bench-");
  const replica = await openReplica({ dir: dir.path, masterKey: systemRandom.bytes(32) });
  const fields = ["status", "prio", "owner", "title", "due"];
  for (const field of fields.slice(0, indexes)) {
    await replica.defineIndex({ name: field, path: `meta.${field}`, type: field === "prio" || field === "due" ? "number" : "string", kind: field === "due" ? "order" : "equality" });
  }
  await replica.createMany(Array.from({ length: 500 }, (_, i) => ({ id: `w-${i}`, kind: "yjs" as const, init: { meta: {} } })));
  const { ms } = await timed(() => Promise.all(Array.from({ length: 64 }, async (_, w) => {
    for (let i = w; i < writes; i += 64) {
      // Every write moves every indexed value (the worst case for maintenance).
      await replica.patch(`w-${i % 500}`, [
        { op: "set", path: ["meta", "status"], value: statuses[i % 4]! }, { op: "set", path: ["meta", "prio"], value: i },
        { op: "set", path: ["meta", "owner"], value: `u${i % 13}` }, { op: "set", path: ["meta", "title"], value: `t${i}` },
        { op: "set", path: ["meta", "due"], value: i * 7 },
      ]);
    }
  })));
  await replica.close();
  await dir.remove();
  return opsPerSec(writes, ms);
}

export async function run(): Promise<string> {
  const n = Number(process.env.BENCH_QUERY_DOCS ?? 100_000);
  const writes = Number(process.env.BENCH_QUERY_WRITES ?? 5000);
  const dir = await tempDir("concord-bench-");
  const replica = await openReplica({ dir: dir.path, masterKey: systemRandom.bytes(32), cacheMaxBytes: 32 << 20 });
  await replica.defineIndex({ name: "status", path: "meta.status", type: "string" });
  const created = await timed(() => fill(replica, n));
  const rows: Array<Record<string, string | number>> = [];
  const repeat = 20;
  const eq = await timed(async () => {
    let ids = 0;
    for (let i = 0; i < repeat; i++) ids = (await replica.query({ where: [{ path: "meta.status", op: "==", value: "needle" }], limit: 100 })).ids.length;
    return ids;
  });
  const scan = await timed(() => fullScan(replica));
  rows.push({ query: "status == needle, equality index", ids: eq.result, "ms per query": (eq.ms / repeat).toFixed(2) });
  rows.push({ query: "status == needle, full scan (list + read + filter)", ids: scan.result, "ms per query": scan.ms.toFixed(0) });
  const backfill = await timed(async () => {
    await replica.defineIndex({ name: "prio", path: "meta.prio", type: "number", kind: "order" });
    await replica.indexesSettled();
  });
  // Followed page by page, as a client would: a walk spends at most 10 000 entries per call (see query-run.ts).
  let pages = 0;
  const range = await timed(async () => {
    let ids = 0;
    for (let i = 0; i < repeat; i++) {
      ids = 0;
      pages = 0;
      let cursor: string | undefined;
      do {
        const page = await replica.query({ where: [{ path: "meta.prio", op: ">=", value: 500 }, { path: "meta.prio", op: "<", value: 501 }], orderBy: "meta.prio", limit: 50, ...(cursor ? { cursor } : {}) });
        ids += page.ids.length;
        pages++;
        cursor = page.cursor;
      } while (cursor && ids < 50);
    }
    return ids;
  });
  rows.push({ query: `500 <= prio < 501 orderBy prio, limit 50, order index (${pages} calls)`, ids: range.result, "ms per query": (range.ms / repeat).toFixed(2) });
  await replica.close();
  await dir.remove();
  const none = await writeCost(0, writes);
  const one = await writeCost(1, writes);
  const five = await writeCost(5, writes);
  const costRows = [
    { indexes: 0, "writes/s": none, "cost per write × none": "1.00" },
    { indexes: 1, "writes/s": one, "cost per write × none": (none / one).toFixed(2) },
    { indexes: 5, "writes/s": five, "cost per write × none": (none / five).toFixed(2) },
  ];
  return `Queries over ${n} small Yjs documents, one embedded region, LMDB (created with one index in ${(created.ms / 1000).toFixed(1)} s)
${table(rows)}
backfill of an order index over ${n} documents: ${opsPerSec(n, backfill.ms)} docs/s (${(backfill.ms / 1000).toFixed(1)} s)

Cost of index maintenance: ${writes} patches by 64 concurrent writers, each moving every indexed value (goal: ≤ 1.2× with one index)
${table(costRows)}`;
}
