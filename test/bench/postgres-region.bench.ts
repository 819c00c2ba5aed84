/**
 * One region as 1, 2 and 3 real `concord serve` processes over one
 * PostgreSQL schema, next to one process on LMDB, in the same run: JSON
 * PATCH writes per second and p99 (12 connections in all, split evenly over
 * the processes, each connection writing its own document), what a write
 * costs on the PostgreSQL path (Concord CPU per write, rows PostgreSQL wrote
 * per write), cross-process visibility (an SSE subscriber on process 2 for
 * writes acknowledged by process 1) and the time until the anti-entropy duty
 * moves when its holder is SIGKILLed. Skipped, saying why, without PostgreSQL.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dropSchema, pgQuery, postgresUnavailable } from "../helpers/postgres.ts";
import { json, sse, startPgRegion, type MembersStatus, type PgRegion } from "../server/postgres-cluster.ts";
import { poll, startProcessCluster } from "../server/processes.ts";
import { table } from "./harness.ts";
import { load, type LoadResult } from "./load-generator.ts";

const connections = 12;
const seconds = Number(process.env["BENCH_SECONDS"] ?? 5);
const body = new TextEncoder().encode(JSON.stringify({ ops: [{ op: "push", path: ["items"], value: 1 }] }));

/** CPU time (user + system) a process has used so far, ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Rows PostgreSQL inserted, updated and deleted in `schema` so far. */
async function rowsWritten(schema: string): Promise<number> {
  const { rows } = await pgQuery("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables WHERE schemaname = $1", [schema]);
  return Number(rows[0].n);
}

/** Loads each of `urls` with its share of the connections at once; requests summed, p50 and p99 the worst process's. */
async function loadAll(urls: string[]): Promise<{ perSecond: number; requests: number; p50: number; p99: number; errors: number; tool: string }> {
  for (const url of urls) for (let c = 0; c < connections; c++) await json(`${url}/v1/docs/bench-${c}`, { method: "PUT", json: { kind: "yjs" } });
  const share = connections / urls.length;
  const results: LoadResult[] = await Promise.all(urls.map((url, i) => load(url, {
    method: "PATCH", headers: { "content-type": "application/json" }, seconds,
    streams: Array.from({ length: share }, (_, c) => [{ path: `/v1/docs/bench-${i * share + c}`, body }]),
  })));
  return {
    perSecond: results.reduce((s, r) => s + r.perSecond, 0), requests: results.reduce((s, r) => s + r.requests, 0),
    p50: Math.max(...results.map((r) => r.p50Ms)), p99: Math.max(...results.map((r) => r.p99Ms)),
    errors: results.reduce((s, r) => s + r.errors, 0), tool: results[0]!.tool,
  };
}

/** Visibility latency from the acknowledgement, p50 and p99 over `n` writes on process 0 seen on process 1. */
async function visibility(region: PgRegion, n: number): Promise<{ p50: number; p99: number }> {
  await json(`${region.at(0)}/v1/docs/seen`, { method: "PUT", json: { kind: "yjs" } });
  const stream = sse(`${region.at(1)}/v1/docs/seen/events`);
  await stream.ready;
  await poll("ready event", async () => (stream.events.some((e) => e.event === "ready") ? true : undefined));
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const before = stream.events.length;
    const written = await json(`${region.at(0)}/v1/docs/seen`, { method: "PATCH", json: { ops: [{ op: "set", path: ["m", "i"], value: i }] } });
    if (written.status !== 200) throw new Error(`write ${i}: ${written.status} ${JSON.stringify(written.body)}`);
    const acked = performance.now();
    const seen = await poll(`change ${i}`, async () => stream.events.slice(before).find((e) => e.event === "change"));
    ms.push(Math.max(0, seen.at - acked));
  }
  stream.close();
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(n / 2)]!, p99: ms[Math.min(n - 1, Math.floor(n * 0.99))]! };
}

/** SIGKILLs the anti-entropy duty holder; ms until a survivor holds the lease. */
async function failover(region: PgRegion): Promise<number> {
  const status = (await json<MembersStatus>(`${region.at(0)}/v1/admin/members`)).body;
  const holder = status.leases.find((l) => l.duty === "anti-entropy")!;
  const index = region.ports.findIndex((p) => status.members.find((m) => m.epoch === holder.holder)?.url.endsWith(`:${p}`));
  const survivor = (index + 1) % region.ports.length;
  const killedAt = performance.now();
  await region.kill(index);
  await poll("the duty on a survivor", async () => {
    const lease = (await json<MembersStatus>(`${region.at(survivor)}/v1/admin/members`)).body.leases.find((l) => l.duty === "anti-entropy");
    return lease && lease.holder !== holder.holder ? lease : undefined;
  });
  return performance.now() - killedAt;
}

export async function run(): Promise<string> {
  const unavailable = await postgresUnavailable();
  if (unavailable) return `skipped: ${unavailable}`;
  const rows: Array<Record<string, string | number>> = [];
  const lmdb = await startProcessCluster(["lm"], "concord-bench-lm-");
  try {
    const pid = lmdb.procs.get("lm")!.child.pid!;
    const cpu = cpuMs(pid);
    const r = await loadAll([lmdb.urls["lm"]!]);
    rows.push({ store: "LMDB", processes: 1, "writes/s": Math.round(r.perSecond), "p50 ms": r.p50.toFixed(1), "p99 ms": r.p99.toFixed(1), errors: r.errors,
      "Concord CPU ms/write": ((cpuMs(pid) - cpu) / r.requests).toFixed(2), "PG rows/write": "-" });
  } finally {
    await lmdb.stop();
  }
  let extras = "";
  for (const count of [1, 2, 3]) {
    const schema = `concord_bench_${randomBytes(5).toString("hex")}`;
    const region = await startPgRegion({ schema, count, prefix: "concord-bench-pg-", logLevel: "warn" });
    try {
      const pids = region.procs.map((p) => p.child.pid!);
      const cpu = pids.reduce((s, p) => s + cpuMs(p), 0);
      const rowsBefore = await rowsWritten(schema);
      const r = await loadAll(region.procs.map((_, i) => region.at(i)));
      const cpuAfter = pids.reduce((s, p) => s + cpuMs(p), 0);
      rows.push({ store: "PostgreSQL", processes: count, "writes/s": Math.round(r.perSecond), "p50 ms": r.p50.toFixed(1), "p99 ms": r.p99.toFixed(1), errors: r.errors,
        "Concord CPU ms/write": ((cpuAfter - cpu) / r.requests).toFixed(2), "PG rows/write": ((await rowsWritten(schema) - rowsBefore) / r.requests).toFixed(1) });
      if (count === 3) {
        const v = await visibility(region, 100);
        const f = await failover(region);
        extras = `Cross-process visibility (100 writes acknowledged by process 1, seen by an SSE subscriber on process 2, from the ack): p50 ${v.p50.toFixed(1)} ms, p99 ${v.p99.toFixed(1)} ms.
Failover: the anti-entropy duty moved to a survivor ${f.toFixed(0)} ms after its holder was SIGKILLed.`;
      }
    } finally {
      await region.stop();
      await dropSchema(schema);
    }
  }
  return `JSON PATCH writes (one list push each) over HTTP, ${connections} connections for ${seconds} s, each connection its own
Yjs document, split evenly over a region's processes (straight to each process, no balancer); PostgreSQL on this machine.
${table(rows)}
p50/p99 are the worst process's. "Concord CPU ms/write" is the region's processes' CPU (user + system, /proc) over the
writes made; "PG rows/write" the rows PostgreSQL inserted, updated or deleted in the region's schema per write.
${extras}`;
}
