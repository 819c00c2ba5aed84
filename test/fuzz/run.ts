/**
 * `npm run fuzz -- [--seed N] [--inputs N]`: the fuzz targets (targets.ts)
 * for both engines, with a progress line and a table like the probe's:
 * tried, refused, accepted, crashed, hung > 1 s, poisoned. Exits 1 when
 * anything crashed, hung or was poisoned, printing what reproduces it.
 * Bounded: it stops after --inputs per target (default 20,000).
 */
import { performance } from "node:perf_hooks";
import { fuzzDeltas, fuzzJsonOps, type FuzzTally } from "./targets.ts";

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  const value = at < 0 ? fallback : Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} takes a non-negative integer`);
  return value;
};

const seed = arg("seed", 1);
const inputs = arg("inputs", 20_000);
const chunk = 1000;
console.log(`concord fuzz: npm run fuzz -- --seed ${seed} --inputs ${inputs}`);

const targets = [
  ["yjs deltas", (s: number, n: number) => fuzzDeltas("yjs", { seed: s, inputs: n, now: () => performance.now() })],
  ["automerge deltas", (s: number, n: number) => fuzzDeltas("automerge", { seed: s, inputs: n, now: () => performance.now() })],
  ["yjs JSON ops", (s: number, n: number) => fuzzJsonOps("yjs", { seed: s, inputs: n, now: () => performance.now() })],
  ["automerge JSON ops", (s: number, n: number) => fuzzJsonOps("automerge", { seed: s, inputs: n, now: () => performance.now() })],
] as const;

const totals: FuzzTally[] = [];
for (const [name, run] of targets) {
  const total: FuzzTally = { target: name, tried: 0, refused: 0, accepted: 0, crashed: 0, hung: 0, poisoned: 0, failures: [] };
  // In chunks, each its own seed (seed * 1e6 + chunk), so progress shows and any chunk replays alone.
  for (let done = 0; done < inputs; done += chunk) {
    const part = run(seed * 1_000_000 + done / chunk, Math.min(chunk, inputs - done));
    for (const key of ["tried", "refused", "accepted", "crashed", "hung", "poisoned"] as const) total[key] += part[key];
    total.failures.push(...part.failures.slice(0, 5 - total.failures.length));
    process.stderr.write(`\r${name}: ${total.tried}/${inputs}`);
  }
  process.stderr.write("\n");
  totals.push(total);
}

const columns = ["target", "tried", "refused", "accepted", "crashed", "hung > 1 s", "poisoned"];
console.log(`\n| ${columns.join(" | ")} |\n|${columns.map(() => " --- ").join("|")}|`);
for (const t of totals) console.log(`| ${[t.target, t.tried, t.refused, t.accepted, t.crashed, t.hung, t.poisoned].join(" | ")} |`);
const bad = totals.filter((t) => t.crashed + t.hung + t.poisoned > 0);
for (const t of bad) console.log(`\n${t.target}:\n  ${t.failures.join("\n  ")}`);
process.exitCode = bad.length > 0 ? 1 : 0;
