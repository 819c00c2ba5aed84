/**
 * Pieces for tests and benchmarks that run one region as several real
 * `concord serve` processes over one PostgreSQL schema: a round-robin TCP
 * balancer at the region's URL, the process group's start-up (each process
 * with its own data directory holding copies of the region's keys), and JSON
 * and SSE client helpers.
 */
import { spawnSync } from "node:child_process";
import { copyFile, mkdir } from "node:fs/promises";
import { createServer, connect, type Server } from "node:net";
import { join } from "node:path";
import { tempDir } from "../helpers/replicas.ts";
import { pgTestUrl } from "../helpers/postgres.ts";
import { bin, freePort, poll, startConcord, stop, waitReady, writeTopology, type Proc } from "./processes.ts";

/** A TCP balancer: each connection goes to the next live backend in turn. */
export async function balancer(port: number, backends: () => number[]): Promise<Server> {
  let next = 0;
  const server = createServer((socket) => {
    const live = backends();
    if (live.length === 0) { socket.destroy(); return; }
    const target = live[next++ % live.length]!;
    const upstream = connect(target, "127.0.0.1");
    socket.pipe(upstream).pipe(socket);
    const end = () => { socket.destroy(); upstream.destroy(); };
    socket.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

export interface Member { epoch: number; url: string; alive: boolean }
export interface MembersStatus { self: number; members: Member[]; leases: Array<{ duty: string; holder: number; token: number }> }

export const json = async <T>(url: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; body: T }> => {
  const { json: body, ...rest } = init ?? {};
  const r = await fetch(url, { ...rest, ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}) });
  return { status: r.status, body: (r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text()) as T };
};

/** Reads an SSE stream; events are collected with their arrival time. */
export function sse(url: string) {
  const controller = new AbortController();
  const events: Array<{ event: string; data: unknown; at: number }> = [];
  const ready = (async () => {
    const r = await fetch(url, { signal: controller.signal });
    const reader = r.body!.getReader();
    let buffer = "";
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffer += Buffer.from(value!).toString();
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event) events.push({ event, data: data ? JSON.parse(data) : undefined, at: performance.now() });
        }
      }
    })();
  })();
  return { events, ready, close: () => controller.abort() };
}

/** A region of `count` processes on one PostgreSQL schema behind a balancer, and other regions on LMDB. */
export interface PgRegion {
  /** The region URLs of the topology (the PostgreSQL region's is the balancer's). */
  urls: Record<string, string>;
  /** Each process's own port. */
  ports: number[];
  /** Each process's current child (replaced by `restart`). */
  procs: Proc[];
  /** Every child started, killed ones included (their logs). */
  history: Proc[];
  /** The other regions' processes, by id. */
  others: Map<string, Proc>;
  /** Process `i`'s own URL. */
  at(i: number): string;
  /** SIGKILLs process `i` and takes it out of the balancer. */
  kill(i: number): Promise<void>;
  /** Starts process `i` again on its own data directory and puts it back in the balancer once ready. */
  restart(i: number): Promise<void>;
  /** Kills every process, closes the balancer, removes the directory. */
  stop(): Promise<void>;
}

export interface PgRegionOptions {
  /** The PostgreSQL schema the region's processes share. */
  schema: string;
  count: number;
  /** The PostgreSQL region's id (default "pg"). */
  id?: string;
  /** Regions on LMDB next to it. */
  lmdb?: string[];
  prefix?: string;
  logLevel?: string;
}

export async function startPgRegion(options: PgRegionOptions): Promise<PgRegion> {
  const id = options.id ?? "pg";
  const lmdb = options.lmdb ?? [];
  const dir = await tempDir(options.prefix ?? "concord-pg-region-");
  const procs: Proc[] = [];
  const others = new Map<string, Proc>();
  let lb: Server | undefined;
  const logLevel = options.logLevel ?? "info";
  const ports: number[] = [];
  const alive = new Set<number>();
  const dataOf = (i: number) => (i === 0 ? join(dir.path, id) : join(dir.path, `${id}-${i}`));
  const history: Proc[] = [];
  const region: PgRegion = {
    urls: {}, ports, procs, others, history,
    at: (i) => `http://127.0.0.1:${ports[i]}`,
    async kill(i) {
      alive.delete(ports[i]!);
      await stop(procs[i]!, "SIGKILL");
    },
    async restart(i) {
      procs[i] = startConcord(["serve", "--topology", topology, "--region", id, "--data", dataOf(i),
        "--store", `${pgTestUrl}?schema=${options.schema}`, "--port", String(ports[i]), "--log-level", logLevel, "--auth", "off"]);
      history.push(procs[i]);
      await waitReady(region.at(i), procs[i]);
      alive.add(ports[i]!);
    },
    async stop() {
      await Promise.all([...procs, ...others.values()].map((p) => stop(p, "SIGKILL")));
      lb?.close();
      await dir.remove();
    },
  };
  const { file: topology, urls } = await writeTopology(dir.path, [id, ...lmdb]);
  region.urls = urls;
  try {
    const init = spawnSync(process.execPath, [bin, "keys", "init", "--topology", topology, "--data", dir.path], { encoding: "utf8" });
    if (init.status !== 0) throw new Error(`keys init failed: ${init.stderr}`);
    for (const other of lmdb) {
      others.set(other, startConcord(["serve", "--topology", topology, "--region", other, "--data", join(dir.path, other), "--log-level", logLevel, "--auth", "off"]));
    }
    for (let i = 0; i < options.count; i++) ports.push(await freePort());
    lb = await balancer(Number(new URL(urls[id]!).port), () => ports.filter((p) => alive.has(p)));
    for (let i = 0; i < options.count; i++) {
      if (i > 0) {
        await mkdir(join(dataOf(i), "keys"), { recursive: true });
        for (const key of ["master.key", "region.key"]) await copyFile(join(dataOf(0), "keys", key), join(dataOf(i), "keys", key));
      }
      // One at a time: the first creates the schema and the region's keyring.
      await region.restart(i);
    }
    for (const [other, proc] of others) await waitReady(urls[other]!, proc);
    await poll(`${options.count} members`, async () => {
      const { body } = await json<MembersStatus>(`${region.at(0)}/v1/admin/members`);
      return body.members.filter((m) => m.alive).length === options.count ? true : undefined;
    });
  } catch (error) {
    await region.stop();
    throw error;
  }
  return region;
}

/** Writers pushing unique entries ("w<writer>-<n>") to the list `items` of `docs` in turn, writer w through process w % processes. */
export interface WriteLoad {
  /** Entries acknowledged (HTTP 200), by document. */
  acked: Record<string, Set<string>>;
  /** Refused writes by "status code" (or "connection" when the process did not answer). */
  refused: Map<string, number>;
  /** The first error message seen for each refusal reason. */
  messages: Map<string, string>;
  total(): number;
  /** Ends the load once each writer's request in flight is answered. */
  stop(): Promise<void>;
}

export function writeLoad(at: (i: number) => string, docs: string[], writers: number, processes: number): WriteLoad {
  const acked: Record<string, Set<string>> = Object.fromEntries(docs.map((d) => [d, new Set<string>()]));
  const refused = new Map<string, number>();
  const messages = new Map<string, string>();
  let running = true;
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; running; n++) {
      const doc = docs[n % docs.length]!;
      const entry = `w${w}-${n}`;
      const answer = await json(`${at(w % processes)}/v1/docs/${doc}`, { method: "PATCH", json: { ops: [{ op: "push", path: ["items"], value: entry }] } }).catch(() => undefined);
      if (answer?.status === 200) acked[doc]!.add(entry);
      else {
        const error = (answer?.body as { error?: { code?: string; message?: string } } | undefined)?.error;
        const reason = answer ? `${answer.status} ${error?.code ?? ""}`.trim() : "connection";
        refused.set(reason, (refused.get(reason) ?? 0) + 1);
        if (!messages.has(reason) && error?.message) messages.set(reason, `${doc}: ${error.message}`);
        if (!answer) await new Promise((resolve) => setTimeout(resolve, 20)); // not a hot loop on a closed port
      }
    }
  });
  return {
    acked, refused, messages,
    total: () => Object.values(acked).reduce((sum, s) => sum + s.size, 0),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export async function readDoc<T = unknown>(url: string, doc: string): Promise<T | undefined> {
  const r = await fetch(`${url}/v1/docs/${doc}`).catch(() => undefined);
  return r?.ok ? ((await r.json()) as { value: T }).value : undefined;
}

/**
 * Polls until every process reads `doc` identically, with all of `expected` in the list `list` picks;
 * on a time-out, says which acknowledged entries each process lacks.
 */
export async function converged<T>(at: (i: number) => string, processes: number, doc: string, list: (value: T) => string[] | undefined, expected: Set<string>): Promise<T> {
  const all = Array.from({ length: processes }, (_, i) => i);
  try {
    return await poll(`${doc} identical on every process with all ${expected.size} acknowledged entries`, async () => {
      const values = await Promise.all(all.map((i) => readDoc<T>(at(i), doc)));
      if (values.some((v) => v === undefined)) return undefined;
      if (new Set(values.map((v) => JSON.stringify(v))).size !== 1) return undefined;
      const items = new Set(list(values[0]!) ?? []);
      return [...expected].every((e) => items.has(e)) ? values[0] : undefined;
    });
  } catch (error) {
    const lacking = await Promise.all(all.map(async (i) => {
      const value = await readDoc<T>(at(i), doc);
      const items = new Set(value === undefined ? [] : list(value) ?? []);
      return [...expected].filter((e) => !items.has(e));
    }));
    throw new Error(`${(error as Error).message}; acknowledged but missing, per process: ${JSON.stringify(lacking)}`);
  }
}
