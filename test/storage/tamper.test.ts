/**
 * Tamper harness: seeded trials of byte flips, truncation, zeroed pages,
 * swapped pages and an older copy of the whole file on a small LMDB region
 * store (see fixtures/tamper-trials.ts, which runs them in a child process:
 * an LMDB open can kill a process). Prints its seed and its counts.
 *
 *   TAMPER_SEED=123 TAMPER_TRIALS=200 npx vitest run --config test/vitest.config.ts test/storage/tamper.test.ts
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// A fixed default keeps CI reproducible; TAMPER_SEED explores others. Known open case: TAMPER_SEED=1941879447
// (trial 3, swap-pages) serves y10 with older content; most likely a freed, older copy of a leaf page swapped
// into the tree, which holds a consistent older record set the record chain cannot tell from the current one.
const seed = Number(process.env.TAMPER_SEED ?? 20261202);
const trials = Number(process.env.TAMPER_TRIALS ?? 200);
const batch = 50;
const fixture = fileURLToPath(new URL("./fixtures/tamper-trials.ts", import.meta.url));
console.log(`tamper harness: seed ${seed}, ${trials} trials (replay: TAMPER_SEED=${seed} TAMPER_TRIALS=${trials} npx vitest run --config test/vitest.config.ts test/storage/tamper.test.ts)`);

interface TrialResult {
  trial: number;
  kind: string;
  refused?: string;
  before?: Record<string, string>;
  after?: Record<string, string>;
  docsRepaired?: number;
  openError?: string;
  /** Set by the parent: the child died in this trial without a result. */
  crashed?: string;
}

/** Runs every trial in child processes; one that dies mid-trial is counted as a crash and the next child goes on. */
function runTrials(): Map<number, Promise<TrialResult>> {
  const settle = new Map<number, (r: TrialResult) => void>();
  const results = new Map<number, Promise<TrialResult>>();
  for (let t = 0; t < trials; t++) results.set(t, new Promise((resolve) => settle.set(t, resolve)));
  const start = (first: number) => {
    if (first >= trials) return;
    const child = spawn(process.execPath, ["--import", "tsx", fixture, String(seed), String(first), String(trials - first)], { stdio: ["ignore", "pipe", "pipe"] });
    let current: { trial: number; kind: string } | undefined;
    let next = first;
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-2000)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const [word, ...rest] = line.split(" ");
      if (word === "start") current = { trial: Number(rest[0]), kind: rest[1]! };
      if (word === "result") {
        const result = JSON.parse(rest.join(" ")) as TrialResult;
        settle.get(result.trial)?.(result);
        current = undefined;
        next = result.trial + 1;
      }
    });
    child.on("close", (code, signal) => {
      if (current) {
        settle.get(current.trial)?.({ trial: current.trial, kind: current.kind, crashed: `exit ${code} ${signal ?? ""} ${stderr.trim().slice(-300)}` });
        start(current.trial + 1);
      } else if (next < trials) {
        for (let t = next; t < trials; t++) settle.get(t)?.({ trial: t, kind: "setup", crashed: `the child failed before trial ${t}: exit ${code} ${stderr.slice(-500)}` });
      }
    });
  };
  start(0);
  return results;
}

const counts = {
  trials: 0, refusedWithMessage: 0, crashesWithoutMessage: 0, unexpectedErrors: 0,
  docsSilentlyWrong: 0, docsStaleOlderCopy: 0, docsStaleWhileNotReady: 0,
  docsDetectedCorrupt: 0, docsMissing: 0, docsDamaged: 0, docsRepairedInOneRound: 0, docsNotRepaired: 0, docsRewrittenFromPeer: 0,
  byKind: {} as Record<string, number>,
};

/** Adds one trial to the counts; the failures it shows, as lines. */
function tally(r: TrialResult): string[] {
  const failures: string[] = [];
  counts.trials++;
  counts.byKind[r.kind] = (counts.byKind[r.kind] ?? 0) + 1;
  if (r.crashed) {
    counts.crashesWithoutMessage++;
    return [`trial ${r.trial} (${r.kind}) crashed: ${r.crashed}`];
  }
  if (r.openError) {
    counts.unexpectedErrors++;
    return [`trial ${r.trial} (${r.kind}) failed: ${r.openError}`];
  }
  if (r.refused) {
    if (/data\.mdb/.test(r.refused) || /keyring|key/.test(r.refused)) counts.refusedWithMessage++;
    else failures.push(`trial ${r.trial} refused without naming the file: ${r.refused}`);
  }
  for (const [id, before] of Object.entries(r.before ?? {})) {
    const after = r.after?.[id];
    if (before === "ok") continue;
    counts.docsDamaged++;
    if (before === "wrong") {
      // An older copy of the whole file is a consistent older state: only the peers can tell (README, Guarantees).
      // A store rebuilt after a refusal may hold one too; it is not ready (RESTORED) until its first round.
      if (r.refused) counts.docsStaleWhileNotReady++;
      else if (r.kind === "older-copy") counts.docsStaleOlderCopy++;
      else {
        counts.docsSilentlyWrong++;
        failures.push(`trial ${r.trial} (${r.kind}) served ${id} with wrong content`);
      }
    } else if (before === "corrupt_record") counts.docsDetectedCorrupt++;
    else if (before === "not_found") counts.docsMissing++;
    else failures.push(`trial ${r.trial} (${r.kind}) read ${id}: ${before}`);
    if (after === "ok") counts.docsRepairedInOneRound++;
    else {
      counts.docsNotRepaired++;
      failures.push(`trial ${r.trial} (${r.kind}) left ${id} ${after} after one anti-entropy round`);
    }
  }
  counts.docsRewrittenFromPeer += r.docsRepaired ?? 0;
  return failures;
}

const results = runTrials();

describe(`a region store damaged at rest (seed ${seed})`, () => {
  for (let first = 0; first < trials; first += batch) {
    const last = Math.min(trials, first + batch) - 1;
    it(`trials ${first}-${last}: serves no document silently wrong, never crashes without a message, and repairs every damaged document in one anti-entropy round`, async () => {
      const failures: string[] = [];
      for (let t = first; t <= last; t++) failures.push(...tally(await results.get(t)!));
      expect(failures).toEqual([]);
    });
  }

  afterAll(() => {
    console.log(`tamper harness (seed ${seed}): ${JSON.stringify(counts)}`);
  });
});
