/**
 * Real `concord serve` processes with authentication on: a generated topology,
 * keys, and one admin token made with `concord tokens add` and copied to every
 * region (as the command's help says to do).
 */
import { spawnSync } from "node:child_process";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers/replicas.ts";
import { bin, startConcord, stop, waitReady, writeTopology, type Proc } from "../server/processes.ts";

export interface TokenCluster {
  urls: Record<string, string>;
  /** A token with every scope, known to every region. */
  token: string;
  dataDir(id: string): string;
  procs: Map<string, Proc>;
  /** Flags added to every later `concord serve` (e.g. --allow-origins for a browser page). */
  serveFlags: string[];
  serve(id: string): Promise<Proc>;
  kill(id: string): Promise<void>;
  /** Runs `concord tokens ARGS` against a region's directory. */
  tokens(id: string, args: string[]): { status: number | null; stdout: string; stderr: string };
  stop(): Promise<void>;
}

export async function startTokenCluster(ids: string[], prefix: string): Promise<TokenCluster> {
  const dir = await tempDir(prefix);
  const { file: topologyFile, urls } = await writeTopology(dir.path, ids);
  const init = spawnSync(process.execPath, [bin, "keys", "init", "--topology", topologyFile, "--data", dir.path], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`keys init failed: ${init.stderr}`);
  const dataDir = (id: string) => join(dir.path, id);
  const tokens = (id: string, args: string[]) => {
    const run = spawnSync(process.execPath, [bin, "tokens", ...args.slice(0, 1), "--data", dataDir(id), ...args.slice(1)], { encoding: "utf8" });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  };
  const added = tokens(ids[0]!, ["add", "--name", "admin", "--scopes", "read,write,admin"]);
  if (added.status !== 0) throw new Error(`tokens add failed: ${added.stderr}`);
  for (const id of ids.slice(1)) await copyFile(join(dataDir(ids[0]!), "tokens.json"), join(dataDir(id), "tokens.json"));
  const procs = new Map<string, Proc>();
  const cluster: TokenCluster = {
    urls, procs, dataDir, tokens,
    serveFlags: [],
    token: added.stdout.trim(),
    async serve(id) {
      const proc = startConcord(["serve", "--topology", topologyFile, "--region", id, "--data", dataDir(id), "--log-level", "warn", ...cluster.serveFlags]);
      procs.set(id, proc);
      await waitReady(urls[id]!, proc);
      return proc;
    },
    async kill(id) {
      const proc = procs.get(id);
      if (proc) await stop(proc, "SIGKILL");
    },
    async stop() {
      await Promise.all([...procs.values()].map((p) => stop(p, "SIGKILL")));
      await dir.remove();
    },
  };
  return cluster;
}
