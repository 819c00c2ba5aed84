/**
 * Sealed, durable Yjs updates per second and their latency (p50, p99) on the
 * PostgreSQL store next to LMDB, in the same run: the cost of keeping a
 * region's documents in PostgreSQL. One process, one region; PostgreSQL on
 * the same machine (so a round trip is a loopback hop, and the server's
 * fsync shares the disk). Skipped, saying why, without PostgreSQL.
 */
import { randomBytes } from "node:crypto";
import * as Y from "yjs";
import { openReplica as openOnStore, type Replica } from "../../src/replica/replica.ts";
import { openReplica } from "../../src/node.ts";
import { systemRandom } from "../../src/runtime/random.ts";
import { openPostgresStore } from "../../src/storage/postgres-store.ts";
import { dropSchema, pgTestUrl, postgresUnavailable } from "../helpers/postgres.ts";
import { tempDir } from "../helpers/replicas.ts";
import { opsPerSec, table, timed } from "./harness.ts";

/** `writers` streams of one-character inserts, each into its own text of one shared document. */
function keystrokes(writers: number, perWriter: number): Uint8Array[][] {
  return Array.from({ length: writers }, (_, w) => {
    const doc = new Y.Doc();
    doc.clientID = 2000 + w;
    const out: Uint8Array[] = [];
    doc.on("update", (u: Uint8Array) => out.push(u));
    const text = doc.getText(`w${w}`);
    for (let i = 0; i < perWriter; i++) text.insert(i, String.fromCharCode(97 + (i % 26)));
    return out;
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function measure(replica: Replica, streams: Uint8Array[][]) {
  await replica.create("bench", "yjs");
  const before = replica.stats().storeBatches;
  const latencies: number[] = [];
  const { ms } = await timed(() => Promise.all(streams.map(async (stream) => {
    for (const delta of stream) {
      const start = performance.now();
      await replica.update("bench", delta);
      latencies.push(performance.now() - start);
    }
  })));
  const commits = replica.stats().storeBatches - before;
  await replica.close();
  latencies.sort((a, b) => a - b);
  return { ms, commits, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export async function run(): Promise<string> {
  const unavailable = await postgresUnavailable();
  if (unavailable) return `skipped: ${unavailable}`;
  const total = Number(process.env.BENCH_DELTAS ?? 4000);
  const masterKey = systemRandom.bytes(32);
  const rows: Array<Record<string, string | number>> = [];
  for (const writers of [1, 16, 64]) {
    const streams = keystrokes(writers, Math.max(1, Math.floor(total / writers)));
    const n = streams.length * streams[0]!.length;
    const dir = await tempDir("concord-bench-pg-");
    const lmdb = await measure(await openReplica({ dir: dir.path, masterKey }), streams);
    await dir.remove();
    const schema = `concord_bench_${randomBytes(5).toString("hex")}`;
    const store = await openPostgresStore({ url: pgTestUrl, schema });
    const postgres = await measure(await openOnStore({ store, masterKey }), streams);
    await dropSchema(schema);
    for (const [path, r] of [["LMDB", lmdb], ["PostgreSQL", postgres]] as const) {
      rows.push({
        writers, store: path, updates: n, "updates/s": opsPerSec(n, r.ms), "p50 ms": r.p50.toFixed(2), "p99 ms": r.p99.toFixed(2),
        "store commits": r.commits, "ms per commit": (r.ms / r.commits).toFixed(2),
      });
    }
  }
  return `Sealed durable Yjs updates, LMDB vs PostgreSQL (${pgTestUrl.replace(/\/\/[^@]*@/, "//")}), one process
${table(rows)}
Each writer waits for its ack, so a commit carries at most one update per writer. "store commits" are
the replica's group commits (one Store.write each). On PostgreSQL a write is one transaction: a single
upsert in autocommit when it fits one statement (one round trip), else BEGIN … COMMIT, then the
server's WAL flush; batches queued meanwhile go into the next one. LMDB's commit syncs its data and
meta pages. PostgreSQL runs on this machine: over a network, add a round trip per write.`;
}
