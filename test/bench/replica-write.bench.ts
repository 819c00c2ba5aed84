/**
 * Issue 2's benchmark: the raw Yjs engine applying N one-keystroke deltas (the
 * ceiling), then Replica.update for the same deltas — validated, sealed and
 * durable — in memory and on LMDB, with 1 and with 64 concurrent writers.
 */
import * as Y from "yjs";
import { openReplica } from "../../src/node.ts";
import { openReplica as openOnStore, type Replica } from "../../src/replica/replica.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { systemRandom } from "../../src/runtime/random.ts";
import { tempDir } from "../helpers/replicas.ts";
import { opsPerSec, table, timed } from "./harness.ts";

/** `writers` independent streams of one-character inserts, each into its own text of one shared document. */
function keystrokes(writers: number, perWriter: number): Uint8Array[][] {
  return Array.from({ length: writers }, (_, w) => {
    const doc = new Y.Doc();
    doc.clientID = 1000 + w;
    const out: Uint8Array[] = [];
    doc.on("update", (u: Uint8Array) => out.push(u));
    const text = doc.getText(`w${w}`);
    for (let i = 0; i < perWriter; i++) text.insert(i, String.fromCharCode(97 + (i % 26)));
    return out;
  });
}

function rawApply(streams: Uint8Array[][]): void {
  const doc = new Y.Doc();
  const length = streams[0]!.length;
  for (let i = 0; i < length; i++) for (const s of streams) Y.applyUpdate(doc, s[i]!);
}

async function replicaApply(open: () => Promise<Replica>, streams: Uint8Array[][]): Promise<{ ms: number; commits: number }> {
  const replica = await open();
  await replica.create("bench", "yjs");
  const before = replica.stats().storeBatches;
  const { ms } = await timed(() => Promise.all(streams.map(async (stream) => {
    for (const delta of stream) await replica.update("bench", delta);
  })));
  const commits = replica.stats().storeBatches - before;
  await replica.close();
  return { ms, commits };
}

export async function run(): Promise<string> {
  const total = Number(process.env.BENCH_DELTAS ?? 20_000);
  const rows: Array<Record<string, string | number>> = [];
  const masterKey = systemRandom.bytes(32);
  for (const writers of [1, 64]) {
    const streams = keystrokes(writers, Math.floor(total / writers));
    const n = streams.length * streams[0]!.length;
    rawApply(keystrokes(4, 200)); // warm up the engine
    const raw = (await timed(() => rawApply(streams))).ms;
    const memory = await replicaApply(() => openOnStore({ store: createMemoryStore(), masterKey }), streams);
    const dir = await tempDir("concord-bench-");
    const lmdb = await replicaApply(() => openReplica({ dir: dir.path, masterKey }), streams);
    await dir.remove();
    const runs = [["raw Y.applyUpdate", { ms: raw, commits: 0 }], ["Replica.update, memory", memory], ["Replica.update, LMDB", lmdb]] as const;
    for (const [name, { ms, commits }] of runs) {
      rows.push({
        writers, path: name, deltas: n, "ops/s": opsPerSec(n, ms), "× raw cost": (ms / raw).toFixed(2),
        "store commits": commits || "-", "ms per commit": commits ? (ms / commits).toFixed(2) : "-",
      });
    }
  }
  return `Durable sealed Yjs updates vs the raw engine (one-keystroke deltas; goal: ≤ 3× raw at 64 writers)
${table(rows)}
Each writer waits for its ack, so a commit carries at most one delta per writer: on LMDB the rate is
bounded by writers ÷ (fsync latency + CPU per commit), whatever the CPU cost of a delta.`;
}
