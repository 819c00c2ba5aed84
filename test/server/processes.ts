/** Test helpers for real server processes: free ports, generated topologies, readiness, cleanup. */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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

/** Polls `check` every 50 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
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

export async function waitReady(url: string, proc?: Proc, timeoutMs = 30_000): Promise<void> {
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
