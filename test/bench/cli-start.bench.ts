/**
 * Issue 11's `--help` row: how long `concord --help` takes as the package runs
 * it (the built bin on plain node), against `node -e 0` measured in the same
 * run, interleaved, median of each. Also shown: a command's own help (it loads
 * that command's modules), the same CLI run from the sources through tsx (what
 * the bin did before it was built), and `npx concord --help` from this
 * checkout (npx's own start-up dominates that one).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { table } from "./harness.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const builtBin = "dist/src/concord.js";

interface Case {
  name: string;
  command: string;
  args: string[];
}

const cases: Case[] = [
  { name: "node -e 0 (baseline)", command: process.execPath, args: ["-e", "0"] },
  { name: "concord --help (built bin)", command: process.execPath, args: [builtBin, "--help"] },
  { name: "concord serve --help (built bin)", command: process.execPath, args: [builtBin, "serve", "--help"] },
  { name: "concord --help from the sources (tsx)", command: process.execPath, args: ["src/concord.mjs", "--help"] },
  { name: "npx concord --help", command: "npx", args: ["--no-install", "concord", "--help"] },
];

function timeOnce(c: Case): number {
  const start = performance.now();
  const result = spawnSync(c.command, c.args, { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`${c.name} exited ${result.status}: ${result.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(): Promise<string> {
  if (!existsSync(`${root}${builtBin}`)) return `no ${builtBin}: run npm run build first`;
  const rounds = 15;
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (const c of cases) timeOnce(c); // warm-up: file cache, npx's cache entry
  // Interleaved rounds, so a change in the machine's load hits every case alike.
  for (let i = 0; i < rounds; i++) for (const c of cases) times.get(c.name)!.push(timeOnce(c));
  const baseline = median(times.get(cases[0]!.name)!);
  const rows = cases.map((c) => {
    const ms = median(times.get(c.name)!);
    return {
      command: c.name, "median ms": Math.round(ms), "× node -e 0": (ms / baseline).toFixed(2),
      goal: c.name.startsWith("concord --help (built") ? "≤ 3×" : "",
    };
  });
  return `${table(rows)}\n${rounds} interleaved runs each, medians; wall-clock start-up, so the ratios are what to read on a loaded machine`;
}
