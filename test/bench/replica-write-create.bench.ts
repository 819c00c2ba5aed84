/**
 * Issue 11's creation rows: small documents created in one embedded region on
 * LMDB (durable), one at a time with create(), concurrently with create(),
 * and in batches with createMany(). The baseline, measured in the same run,
 * is the raw LMDB store doing one durable write at a time (what one create
 * must at least wait for).
 */
import { openReplica } from "../../src/node.ts";
import { createServer } from "../../src/server/app.ts";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";
import { systemRandom } from "../../src/runtime/random.ts";
import { tempDir } from "../helpers/replicas.ts";
import { opsPerSec, table, timed } from "./harness.ts";

async function rawSerialWrites(n: number): Promise<number> {
  const dir = await tempDir("concord-bench-");
  const store = await openLmdbStore({ path: dir.path });
  const value = new Uint8Array(200);
  const { ms } = await timed(async () => {
    for (let i = 0; i < n; i++) await store.write([{ key: new Uint8Array([1, i >> 16, (i >> 8) & 255, i & 255]), value }]);
  });
  await store.close();
  await dir.remove();
  return opsPerSec(n, ms);
}

export async function run(): Promise<string> {
  const single = Number(process.env.BENCH_CREATES ?? 1000);
  const batched = Number(process.env.BENCH_BATCH_CREATES ?? 20_000);
  const dir = await tempDir("concord-bench-");
  const replica = await openReplica({ dir: dir.path, masterKey: systemRandom.bytes(32) });
  await replica.createMany(Array.from({ length: 200 }, (_, i) => ({ id: `warm-${i}`, kind: "yjs" as const }))); // warm up
  const raw = await rawSerialWrites(single);
  const rows: Array<Record<string, string | number>> = [];
  const row = (path: string, n: number, ms: number, goal: number) => {
    const rate = opsPerSec(n, ms);
    rows.push({ path, docs: n, "docs/s": rate, "× raw serial write rate": (rate / raw).toFixed(2), goal: `≥ ${goal}/s`, met: rate >= goal ? "yes" : "no" });
  };
  row("create(), one at a time", single, (await timed(async () => {
    for (let i = 0; i < single; i++) await replica.create(`one-${i}`, "yjs");
  })).ms, 500);
  row("create() with a shape, one at a time", single, (await timed(async () => {
    for (let i = 0; i < single; i++) await replica.create(`shaped-${i}`, "yjs", { init: { items: [], meta: {} } });
  })).ms, 500);
  row("create(), 64 concurrent", single, (await timed(() => Promise.all(Array.from({ length: 64 }, async (_, w) => {
    for (let i = w; i < single; i += 64) await replica.create(`conc-${i}`, "yjs");
  })))).ms, 500);
  for (const batch of [100, 1000]) {
    row(`createMany(), batches of ${batch}`, batched, (await timed(async () => {
      for (let start = 0; start < batched; start += batch) {
        const items = Array.from({ length: Math.min(batch, batched - start) }, (_, i) => ({ id: `many-${batch}-${start + i}`, kind: "yjs" as const }));
        const results = await replica.createMany(items);
        if (!results.every((r) => r.ok)) throw new Error("a batch create failed");
      }
    })).ms, 5000);
  }
  const app = createServer(replica);
  row("POST /v1/docs:batch of 1000 (in process, app.request)", batched, (await timed(async () => {
    for (let start = 0; start < batched; start += 1000) {
      const docs = Array.from({ length: Math.min(1000, batched - start) }, (_, i) => ({ id: `http-${start + i}`, kind: "yjs" }));
      const r = await app.request("/v1/docs:batch", { method: "POST", body: JSON.stringify({ docs }), headers: { "content-type": "application/json" } });
      const { results } = (await r.json()) as { results: Array<{ status: number }> };
      if (r.status !== 200 || results.some((x) => x.status !== 201)) throw new Error("a batch POST failed");
    }
  })).ms, 5000);
  await replica.close();
  await dir.remove();
  return `Creating small documents in one embedded region, LMDB, durable (goals: ≥ 5,000 docs/s batched, ≥ 500/s one at a time)
raw LMDB, one durable 200-byte write at a time: ${raw}/s (the baseline)
${table(rows)}
Absolute rates: this machine's fsync latency bounds the one-at-a-time rows (each create waits for its own).`;
}
