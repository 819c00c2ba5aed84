/**
 * `npm run fuzz -- [--seed N] [--count N] [--target a,b] [--jobs N] [--slow-ms N]`:
 * the fuzz targets with a progress line and a table like the probe's: tried,
 * refused, accepted, crashed, hung > 1 s, poisoned. Exits 1 when anything
 * crashed, hung or was poisoned, printing what reproduces it.
 *
 * Bounded: --count inputs per target (default 20,000; --inputs is the old
 * name). Inputs run in chunks, chunk c of a target seeded seed·10^6 + c, so
 * any chunk replays alone (`--seed` and the chunk in the failure line).
 * --jobs N runs the chunks in N worker processes (chunk c in worker c mod N).
 * The targets take turns chunk by chunk, so a run stopped early (SIGINT or
 * SIGTERM prints the table so far) has tried each of them.
 * Targets: yjs-deltas, automerge-deltas, yjs-ops, automerge-ops, gossip, http.
 */
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { fuzzGossip } from "./gossip-target.ts";
import { fuzzHttp } from "./http-target.ts";
import { addTally, newTally, type FuzzOptions, type FuzzTally } from "./tally.ts";
import { fuzzDeltas, fuzzJsonOps } from "./targets.ts";

interface Target { label: string; chunk: number; run: (options: FuzzOptions) => FuzzTally | Promise<FuzzTally> }

const targets: Record<string, Target> = {
  "yjs-deltas": { label: "yjs deltas", chunk: 1000, run: (o) => fuzzDeltas("yjs", o) },
  "automerge-deltas": { label: "automerge deltas", chunk: 1000, run: (o) => fuzzDeltas("automerge", o) },
  "yjs-ops": { label: "yjs JSON ops", chunk: 1000, run: (o) => fuzzJsonOps("yjs", o) },
  "automerge-ops": { label: "automerge JSON ops", chunk: 1000, run: (o) => fuzzJsonOps("automerge", o) },
  gossip: { label: "gossip frames", chunk: 200, run: fuzzGossip },
  http: { label: "HTTP bodies", chunk: 200, run: fuzzHttp },
};

const arg = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
};
const intArg = (name: string, fallback: number): number => {
  const value = Number(arg(name) ?? fallback);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} takes a non-negative integer`);
  return value;
};

const seed = intArg("seed", 1);
const count = intArg("count", intArg("inputs", 20_000));
const jobs = Math.max(1, intArg("jobs", 1));
const slowMs = intArg("slow-ms", 1000);
const names = (arg("target") ?? Object.keys(targets).join(",")).split(",");
for (const name of names) if (!targets[name]) throw new Error(`unknown --target ${name}; one of ${Object.keys(targets).join(", ")}`);

/** Runs chunk `c` of `name`. */
async function runChunk(name: string, c: number): Promise<FuzzTally> {
  const target = targets[name]!;
  const inputs = Math.min(target.chunk, count - c * target.chunk);
  return target.run({ seed: seed * 1_000_000 + c, inputs, slowMs, now: () => performance.now() });
}

const chunksOf = (name: string) => Math.ceil(count / targets[name]!.chunk);

/** A worker: `--worker J` runs the chunks c ≡ J (mod jobs) of every target, one JSON line per chunk. */
async function worker(job: number): Promise<void> {
  await loadSodium();
  for (const [name, c] of schedule(job)) console.log(JSON.stringify({ name, tally: await runChunk(name, c) }));
}

/** Job `job`'s chunks, the targets taking turns (so a run stopped early has tried every target). */
function* schedule(job: number): Generator<[string, number]> {
  const most = Math.max(...names.map(chunksOf));
  for (let c = job; c < most; c += jobs) for (const name of names) if (c < chunksOf(name)) yield [name, c];
}

async function main(): Promise<void> {
  console.log(`concord fuzz: npm run fuzz -- --seed ${seed} --count ${count} --target ${names.join(",")} --jobs ${jobs}`);
  await loadSodium();
  const totals = new Map(names.map((name) => [name, newTally(targets[name]!.label)]));
  const started = performance.now();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.log(`\nstopped by ${signal}: the counts so far`);
      printTable(totals, started);
      process.exit(process.exitCode ?? 0);
    });
  }
  const progress = () => process.stderr.write(`\r${names.map((n) => `${n} ${totals.get(n)!.tried}/${count}`).join(", ")} (${Math.round((performance.now() - started) / 1000)} s)`);
  if (jobs === 1) {
    for (const [name, c] of schedule(0)) {
      addTally(totals.get(name)!, await runChunk(name, c));
      progress();
      // A turn of the event loop, so SIGINT/SIGTERM handlers run between chunks (awaiting a chunk alone never yields).
      await new Promise((resolve) => setImmediate(resolve));
    }
  } else {
    const self = fileURLToPath(import.meta.url);
    await Promise.all(Array.from({ length: jobs }, (_, job) => new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, self, ...process.argv.slice(2), "--worker", String(job)], { stdio: ["ignore", "pipe", "inherit"] });
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (!line.startsWith('{"name":')) return void console.log(line); // anything else a target printed
        const { name, tally } = JSON.parse(line) as { name: string; tally: FuzzTally };
        addTally(totals.get(name)!, tally);
        progress();
      });
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`fuzz worker ${job} exited with ${code}`))));
    })));
  }
  printTable(totals, started);
}

/** The table so far (also on SIGINT/SIGTERM, so a long run stopped early still reports what it tried). */
function printTable(totals: Map<string, FuzzTally>, started: number): void {
  process.stderr.write("\n");
  const rows = [...totals.values()];
  const columns = ["target", "tried", "refused", "accepted", "crashed", "hung > 1 s", "poisoned"];
  console.log(`\n| ${columns.join(" | ")} |\n|${columns.map(() => " --- ").join("|")}|`);
  for (const t of rows) console.log(`| ${[t.target, t.tried, t.refused, t.accepted, t.crashed, t.hung, t.poisoned].join(" | ")} |`);
  console.log(`\n${rows.reduce((n, t) => n + t.tried, 0)} inputs in ${Math.round((performance.now() - started) / 1000)} s`);
  const bad = rows.filter((t) => t.crashed + t.hung + t.poisoned > 0);
  for (const t of bad) console.log(`\n${t.target}:\n  ${t.failures.join("\n  ")}`);
  process.exitCode = bad.length > 0 ? 1 : 0;
}

const workerArg = arg("worker");
await (workerArg === undefined ? main() : worker(Number(workerArg)));
