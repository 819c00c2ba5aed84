/** Test helpers for real server processes: free ports, generated topologies, readiness, cleanup. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/replicas.ts";

export const bin = fileURLToPath(new URL("../../src/concord.mjs", import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Writes a topology of `ids` on free loopback ports; returns its path and the region URLs. */
export async function writeTopology(dir: string, ids: string[], name = "test"): Promise<{ file: string; urls: Record<string, string> }> {
  const urls: Record<string, string> = {};
  for (const id of ids) urls[id] = `http://127.0.0.1:${await freePort()}`;
  const file = join(dir, "topology.template.json");
  await writeFile(file, JSON.stringify({ name, regions: ids.map((id) => ({ id, url: urls[id], publicKey: "" })) }));
  return { file, urls };
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function startConcord(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/**
 * How long a wait on real servers may take before it fails: a safety net, not a budget. Tests wait on
 * events (readiness, a value appearing), so this only bounds a hang, and it is generous because a loaded
 * 2-core machine runs these servers several times slower than an idle one.
 */
export const safetyNetMs = 180_000;

/** Polls `check` every 50 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = safetyNetMs): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function waitReady(url: string, proc?: Proc, timeoutMs = safetyNetMs): Promise<void> {
  await poll(`${url}/readyz`, async () => {
    if (proc && proc.child.exitCode !== null) throw new Error(`process exited: ${proc.output()}`);
    const r = await fetch(`${url}/readyz`).catch(() => undefined);
    return r?.ok ? true : undefined;
  }, timeoutMs);
}

/** SIGTERM (or `signal`), then wait for exit. */
export async function stop(proc: Proc, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  await proc.exited;
}

/** Real `concord serve` processes for `ids` on a generated topology, keys made, all ready. */
export interface ProcessCluster {
  urls: Record<string, string>;
  topologyFile: string;
  /** The temporary directory holding the topology and one data directory per region. */
  path: string;
  dataDir(id: string): string;
  procs: Map<string, Proc>;
  /** Starts (or restarts) a region's process and waits until it is ready. */
  serve(id: string): Promise<Proc>;
  /** A client request straight to a region; `json` becomes the body. */
  api(id: string, path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** A document's value in a region, or undefined if it cannot be read there. */
  value(id: string, doc: string): Promise<unknown>;
  /** SIGKILLs every process and removes the directory. */
  stop(): Promise<void>;
}

export interface ProcessClusterOptions {
  /** More `concord serve` arguments for a region (e.g. --store postgres://…). */
  serveArgs?: (id: string) => string[];
}

export async function startProcessCluster(ids: string[], prefix: string, options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
  const dir = await tempDir(prefix);
  const { file: topologyFile, urls } = await writeTopology(dir.path, ids);
  const init = spawnSync(process.execPath, [bin, "keys", "init", "--topology", topologyFile, "--data", dir.path], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`keys init failed: ${init.stderr}`);
  const procs = new Map<string, Proc>();
  const dataDir = (id: string) => join(dir.path, id);
  const cluster: ProcessCluster = {
    urls, topologyFile, procs, dataDir,
    path: dir.path,
    async serve(id) {
      const proc = startConcord(["serve", "--topology", topologyFile, "--region", id, "--data", dataDir(id), "--log-level", "warn", "--auth", "off", ...(options.serveArgs?.(id) ?? [])]);
      procs.set(id, proc);
      await waitReady(urls[id]!, proc);
      return proc;
    },
    api(id, path, init = {}) {
      const { json, ...rest } = init;
      return fetch(urls[id]! + path, { ...rest, ...(json !== undefined ? { body: JSON.stringify(json), headers: { "content-type": "application/json" } } : {}) });
    },
    async value(id, doc) {
      const r = await cluster.api(id, `/v1/docs/${doc}`);
      return r.ok ? ((await r.json()) as { value: unknown }).value : undefined;
    },
    async stop() {
      await Promise.all([...procs.values()].map((p) => stop(p, "SIGKILL")));
      await dir.remove();
    },
  };
  await Promise.all(ids.map((id) => cluster.serve(id)));
  return cluster;
}
