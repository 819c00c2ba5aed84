/**
 * `npm run probe -- [finding ...] [--full]` (or `node --import tsx test/probe/run.ts 5 12`):
 * replays the issue-10 review against real regions started in this process
 * on 127.0.0.1 (LMDB in temporary directories), one probe per finding, and
 * prints one table row each: tried, refused with a clear 4xx, accepted,
 * crashed, hung > 1 s, poisoned, and notes (RSS for findings 5 and 12).
 * Small sizes by default; --full uses the review's sizes and counts.
 */
import { loadSodium } from "../../src/crypto/sodium.ts";
import { probes } from "./probes.ts";
import { columns, formatRow, type ProbeRow } from "./row.ts";

const full = process.argv.includes("--full");
const asked = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
for (const n of asked) if (!probes.has(n)) throw new Error(`no probe for finding ${n}; there are ${[...probes.keys()].join(", ")}`);
const chosen = asked.length > 0 ? asked : [...probes.keys()];

await loadSodium();
console.log(`concord probe: npm run probe -- ${chosen.join(" ")}${full ? " --full" : ""}`);
const rows: ProbeRow[] = [];
for (const n of chosen) {
  const started = performance.now();
  process.stderr.write(`finding ${n}... `);
  // A probe that fails outright still gets a row, so the table shows it.
  const row = await probes.get(n)!({ full }).catch((error: unknown): ProbeRow => ({
    finding: n, what: "the probe itself failed", tried: 0, refused: 0, accepted: 0, crashed: 1, hung: 0, poisoned: 0, notes: String(error).replaceAll("\n", " "),
  }));
  process.stderr.write(`${Math.round((performance.now() - started) / 1000)} s\n`);
  process.stderr.write(formatRow(row) + "\n");
  rows.push(row);
}
console.log(`\n| ${columns.join(" | ")} |\n|${columns.map(() => " --- ").join("|")}|`);
for (const row of rows) console.log(formatRow(row));
const bad = rows.filter((r) => r.crashed + r.hung + r.poisoned > 0).map((r) => r.finding);
if (bad.length > 0) console.log(`\nfindings with crashes, hangs or poisoned documents: ${bad.join(", ")}`);
process.exitCode = bad.length > 0 ? 1 : 0;
