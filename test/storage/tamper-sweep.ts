/**
 * `npm run tamper -- --seeds 1..300 --trials 9 [--lanes 2]`: the tamper
 * harness over many seeds (each seed its own workload, keys and damage), in
 * child processes, a few seeds at a time. Prints every failure, then the
 * counts per damage kind. Exit 1 on any document served silently wrong, any
 * crash without a message, or any damaged document not repaired in one round.
 * Replay one seed: TAMPER_SEED=S TAMPER_TRIALS=N npx vitest run --config test/vitest.config.ts test/storage/tamper.test.ts
 */
import { parseArgs } from "node:util";
import { createTally, runTrials } from "./tamper-trials-runner.ts";

const { values } = parseArgs({
  options: { seeds: { type: "string", default: "1..300" }, trials: { type: "string", default: "9" }, lanes: { type: "string", default: "2" } },
});
const range = /^(\d+)\.\.(\d+)$/.exec(values.seeds);
if (!range) throw new Error(`--seeds FROM..TO, got ${values.seeds}`);
const from = Number(range[1]);
const to = Number(range[2]);
const trials = Number(values.trials);
const lanes = Number(values.lanes);
const { counts, add } = createTally();
const failures: string[] = [];
let nextSeed = from;
let done = 0;
const total = to - from + 1;

async function lane(): Promise<void> {
  while (nextSeed <= to) {
    const seed = nextSeed++;
    for (const result of runTrials(seed, trials).values()) failures.push(...add(await result, `seed ${seed} `));
    done++;
    if (done % 25 === 0 || done === total) process.stderr.write(`tamper sweep: ${done}/${total} seeds, ${failures.length} failure(s)\n`);
  }
}

await Promise.all(Array.from({ length: lanes }, lane));
for (const line of failures) console.log(`FAIL ${line} (replay: TAMPER_SEED=${/seed (\d+)/.exec(line)?.[1]} TAMPER_TRIALS=${trials})`);
console.log(`tamper sweep: seeds ${from}..${to}, ${trials} trial(s) each`);
console.log("kind             trials  docs damaged  detected  repaired in 1 round  silently wrong  stale (known limit)  crashed");
for (const [kind, k] of Object.entries(counts.byKind)) {
  console.log(`${kind.padEnd(16)} ${String(k.trials).padStart(6)}  ${String(k.docsDamaged).padStart(12)}  ${String(k.detected).padStart(8)}  ${String(k.repaired).padStart(19)}  ${String(k.silentlyWrong).padStart(14)}  ${String(k.staleKnownLimit).padStart(19)}  ${String(k.crashed).padStart(7)}`);
}
console.log(JSON.stringify(counts));
console.log(failures.length === 0 ? "tamper sweep passed" : `tamper sweep FAILED: ${failures.length} failure(s)`);
process.exit(failures.length === 0 ? 0 : 1);
