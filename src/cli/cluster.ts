/**
 * `concord cluster`: every region of a topology on this machine, one
 * `concord serve` child process each. Creates keys and a development token on
 * first run, copies the topology (with public keys) into the data directory so
 * the committed file stays untouched, waits until every region is ready,
 * prints URLs and copy-pasteable commands, reports a region that dies, and
 * stops them all on Ctrl-C / SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";
import { sleep, wallNowMs } from "../runtime/wall-time.ts";
import { readTokensFile, addToken, tokensFile } from "../server/tokens-file.ts";
import { readTopologyFile, writeTopologyFile } from "../server/topology-file.ts";
import { initTopologyKeys, regionDataDir } from "../server/topology-keys.ts";
import type { Command } from "./command.ts";
import { defineCommand } from "./command.ts";
import { concordScript } from "./launcher.ts";

const help = `Usage: concord cluster [FILE] [--data DIR]

Starts every region of the topology FILE (default regions/local.json) as a
child process ("concord serve"), all on this machine. On first run it creates
each region's master key and X25519 key under DIR/<region>/keys/, writes the
topology with public keys to DIR/topology.json (FILE itself is not changed),
and makes a development token with every scope, printed once and stored only
as a hash in DIR/<region>/tokens.json. Server logs go to DIR/<region>/server.log.
Ctrl-C stops every region gracefully.

Options:
  --data DIR     data directory (default data/<topology name>)
  --ready-timeout-ms MS   how long to wait for every region (default 60000)
  -h, --help     this help
`;

async function waitReady(url: string, deadline: number, alive: () => boolean): Promise<void> {
  while (wallNowMs() < deadline) {
    if (!alive()) throw new ConcordError("unavailable", `the region at ${url} exited while starting`);
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return;
    await sleep(100);
  }
  throw new ConcordError("timeout", `the region at ${url} was not ready in time`);
}

export const clusterCommand: Command = defineCommand({
  name: "cluster",
  summary: "run every region of a topology locally (what npm start does)",
  help,
  flags: {
    data: { type: "string" },
    "ready-timeout-ms": { type: "string" },
  },
  async run(values, positionals) {
    const source = positionals[0] ?? join("regions", "local.json");
    const template = await readTopologyFile(source);
    const dataDir = values.data ?? join("data", template.name);
    await mkdir(dataDir, { recursive: true });
    const { topology, created } = await initTopologyKeys(template, dataDir);
    const topologyFile = join(dataDir, "topology.json");
    await writeTopologyFile(topologyFile, topology);
    if (created.length > 0) process.stdout.write(`created keys for ${topology.regions.map((r) => r.id).join(", ")} under ${dataDir}/<region>/keys/ (mode 0600)\n`);

    // One development token for every region, made on first run; only its hash is kept.
    let token: string | undefined;
    const missing = [];
    for (const r of topology.regions) if ((await readTokensFile(tokensFile(regionDataDir(dataDir, r.id)))) === undefined) missing.push(r.id);
    if (missing.length === topology.regions.length) {
      token = await addToken(tokensFile(regionDataDir(dataDir, topology.regions[0]!.id)), { name: "dev", scopes: ["read", "write", "admin"] });
      for (const r of topology.regions.slice(1)) await addToken(tokensFile(regionDataDir(dataDir, r.id)), { name: "dev", scopes: ["read", "write", "admin"] }, token);
    } else if (missing.length > 0) {
      throw new ConcordError("invalid_argument", `${missing.map((id) => tokensFile(regionDataDir(dataDir, id))).join(", ")} missing while other regions have tokens: copy one over`);
    }

    const children = new Map<string, ChildProcess>();
    let stopping = false;
    let died = 0;
    for (const r of topology.regions) {
      const dir = regionDataDir(dataDir, r.id);
      const log = createWriteStream(join(dir, "server.log"), { flags: "a" });
      const child = spawn(process.execPath, [concordScript(), "serve", "--topology", topologyFile, "--region", r.id, "--data", dir], { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.pipe(log);
      child.stderr!.on("data", (chunk: Buffer) => process.stderr.write(chunk.toString().replace(/^(?=.)/gm, `[${r.id}] `)));
      child.on("exit", (code, signal) => {
        children.delete(r.id);
        if (!stopping) {
          died++;
          process.stderr.write(`concord cluster: region ${r.id} died (${signal ?? `exit code ${code}`}); see ${join(dir, "server.log")}\n`);
        }
      });
      children.set(r.id, child);
    }

    const stopAll = async () => {
      stopping = true;
      const exits = [...children.values()].map((child) => new Promise((resolve) => child.once("exit", resolve)));
      for (const child of children.values()) child.kill("SIGTERM");
      await Promise.all(exits);
    };
    const signalled = new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });

    try {
      const deadline = wallNowMs() + Number(values["ready-timeout-ms"] ?? 60_000);
      await Promise.all(topology.regions.map((r) => waitReady(r.url, deadline, () => children.has(r.id))));
    } catch (error) {
      await stopAll();
      throw error;
    }
    process.stdout.write(banner(topology.regions.map((r) => ({ id: r.id, url: r.url })), token, dataDir));
    const signal = await signalled;
    process.stdout.write(`\n${signal}: stopping ${children.size} regions…\n`);
    await stopAll();
    process.stdout.write("stopped\n");
    return died > 0 ? 1 : 0;
  },
});

function banner(regions: Array<{ id: string; url: string }>, token: string | undefined, dataDir: string): string {
  const [a, b] = regions;
  const width = Math.max(...regions.map((r) => r.id.length));
  const tokenLine = token
    ? `Development token (shown once; only its hash is stored):\n\n  export TOKEN=${token}\n`
    : `Development token: shown on the first run only (hashes in ${dataDir}/<region>/tokens.json).\nDelete those files to get a new one on the next start.\n`;
  const second = b ?? a!;
  return `
Concord is running: ${regions.length} regions, active-active.

${regions.map((r) => `  ${r.id.padEnd(width)}  ${r.url}   (status page: ${r.url}/)`).join("\n")}

${tokenLine}
Try it — write in ${a!.id}, read in ${second.id}:

  curl -X PUT ${a!.url}/v1/docs/hello -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"kind":"automerge"}'
  curl -X PATCH ${a!.url}/v1/docs/hello -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"ops":[{"op":"set","path":["greeting"],"value":"hi from ${a!.id}"}]}'
  curl ${second.url}/v1/docs/hello -H "Authorization: Bearer $TOKEN"

Ctrl-C stops every region. Data: ${dataDir}
`;
}
