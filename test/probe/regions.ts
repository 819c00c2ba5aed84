/**
 * Real regions for the probes: `concord keys init` on a generated topology in
 * a temporary directory, then startRegion in this process on 127.0.0.1, LMDB
 * on disk, each region with a tokens.json holding two write tokens (A and B)
 * unless started with auth off. Regions restart on their data directories.
 */
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { startRegion, type RegionOptions, type RunningRegion } from "../../src/server/region.ts";
import { addToken, tokensFile } from "../../src/server/tokens-file.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { tempDir } from "../helpers/replicas.ts";

export const bin = fileURLToPath(new URL("../../src/concord.mjs", import.meta.url));

export interface ProbeRegions {
  path: string;
  topologyFile: string;
  dataDir(id: string): string;
  /** The running region `id` (throws when stopped). */
  get(id: string): RunningRegion;
  /** Bearer tokens of region `id`: A and B, both read+write. */
  tokens(id: string): { a: string; b: string };
  /** A client request to `id` with token A (or `token`), a JSON body from `json`. */
  api(id: string, path: string, init?: RequestInit & { json?: unknown; token?: string }): Promise<Response>;
  start(id: string, extra?: Partial<RegionOptions>): Promise<RunningRegion>;
  stop(id: string): Promise<void>;
  /** Stops every region and removes the directory. */
  close(): Promise<void>;
}

export interface ProbeRegionOptions {
  auth?: "tokens" | "off";
  logger?: Logger;
  /** Options for every start (server limits, say). */
  region?: Partial<RegionOptions>;
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startProbeRegions(ids: string[], options: ProbeRegionOptions = {}): Promise<ProbeRegions> {
  const dir = await tempDir("concord-probe-");
  const urls: Record<string, string> = {};
  for (const id of ids) urls[id] = `http://127.0.0.1:${await freePort()}`;
  const topologyFile = join(dir.path, "topology.json");
  await writeFile(topologyFile, JSON.stringify({ name: "probe", regions: ids.map((id) => ({ id, url: urls[id], publicKey: "" })) }));
  const init = spawnSync(process.execPath, [bin, "keys", "init", "--topology", topologyFile, "--data", dir.path], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`keys init failed: ${init.stderr}`);
  const tokens = new Map<string, { a: string; b: string }>();
  const dataDir = (id: string) => join(dir.path, id);
  if (options.auth !== "off") {
    for (const id of ids) {
      const a = await addToken(tokensFile(dataDir(id)), { name: "A", scopes: ["read", "write"] });
      const b = await addToken(tokensFile(dataDir(id)), { name: "B", scopes: ["read", "write"] });
      tokens.set(id, { a, b });
    }
  }
  const running = new Map<string, RunningRegion>();
  const regions: ProbeRegions = {
    path: dir.path,
    topologyFile,
    dataDir,
    get(id) {
      const region = running.get(id);
      if (!region) throw new Error(`region ${id} is not running`);
      return region;
    },
    tokens: (id) => tokens.get(id) ?? { a: "", b: "" },
    api(id, path, init = {}) {
      const { json, token, ...rest } = init;
      const headers: Record<string, string> = { ...(rest.headers as Record<string, string> | undefined) };
      const bearer = token ?? tokens.get(id)?.a;
      if (bearer) headers.authorization = `Bearer ${bearer}`;
      if (json !== undefined) headers["content-type"] = "application/json";
      return fetch(regions.get(id).url + path, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
    },
    async start(id, extra = {}) {
      const topology = await readTopologyFile(topologyFile);
      const region = await startRegion({
        topology, region: id, dataDir: dataDir(id), port: Number(new URL(urls[id]!).port), gossipTimeoutMs: 2000,
        ...(options.auth === "off" ? { auth: "off" as const } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
        ...options.region, ...extra,
      });
      running.set(id, region);
      return region;
    },
    async stop(id) {
      const region = running.get(id);
      running.delete(id);
      await region?.stop();
    },
    async close() {
      for (const id of [...running.keys()]) await regions.stop(id);
      await dir.remove();
    },
  };
  for (const id of ids) await regions.start(id);
  return regions;
}

/** Rewrites the topology so `from` reaches `to` at `url` (a proxy, say); returns the file to start `from` with. */
export async function topologyVia(regions: ProbeRegions, from: string, to: string, url: string): Promise<string> {
  const file = join(regions.path, `topology-${from}.json`);
  const text = await readFile(regions.topologyFile, "utf8");
  const topology = JSON.parse(text) as { regions: Array<{ id: string; url: string }> };
  for (const r of topology.regions) if (r.id === to) r.url = url;
  await writeFile(file, JSON.stringify(topology));
  return file;
}

/** Polls `check` every 50 ms until it returns something other than undefined (a safety net of 120 s). */
export async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
