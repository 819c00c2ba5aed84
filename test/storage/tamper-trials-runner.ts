/**
 * Runs tamper trials (fixtures/tamper-trials.ts) in child processes and counts
 * their outcomes; shared by the tamper test and the seed sweep
 * (tamper-sweep.ts). A child that dies mid-trial is counted as a crash
 * without a message, and the next child goes on from the trial after it.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface TrialResult {
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

const fixture = fileURLToPath(new URL("./fixtures/tamper-trials.ts", import.meta.url));

/** Trials first..first+count-1 of `seed`, each settled with its result (or its crash). */
export function runTrials(seed: number, count: number, first = 0): Map<number, Promise<TrialResult>> {
  const end = first + count;
  const settle = new Map<number, (r: TrialResult) => void>();
  const results = new Map<number, Promise<TrialResult>>();
  for (let t = first; t < end; t++) results.set(t, new Promise((resolve) => settle.set(t, resolve)));
  const start = (from: number) => {
    if (from >= end) return;
    const child = spawn(process.execPath, ["--import", "tsx", fixture, String(seed), String(from), String(end - from)], { stdio: ["ignore", "pipe", "pipe"] });
    let current: { trial: number; kind: string } | undefined;
    let next = from;
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
      } else if (next < end) {
        for (let t = next; t < end; t++) settle.get(t)?.({ trial: t, kind: "setup", crashed: `the child failed before trial ${t}: exit ${code} ${stderr.slice(-500)}` });
      }
    });
  };
  start(first);
  return results;
}

/** Per damage kind: what the trials of that kind did to the documents they damaged. */
export interface KindCounts {
  trials: number;
  docsDamaged: number;
  detected: number;
  repaired: number;
  silentlyWrong: number;
  /** Older content served where only the peers can tell: an older copy of the whole file, or a rebuilt store before its first round. */
  staleKnownLimit: number;
  crashed: number;
}

export function createTally() {
  const counts = {
    trials: 0, refusedWithMessage: 0, crashesWithoutMessage: 0, unexpectedErrors: 0,
    docsSilentlyWrong: 0, docsStaleOlderCopy: 0, docsStaleWhileNotReady: 0,
    docsDetectedCorrupt: 0, docsMissing: 0, docsDamaged: 0, docsRepairedInOneRound: 0, docsNotRepaired: 0, docsRewrittenFromPeer: 0,
    byKind: {} as Record<string, KindCounts>,
  };

  /** Adds one trial to the counts; the failures it shows, as lines (prefixed with `label`). */
  function add(r: TrialResult, label = ""): string[] {
    const failures: string[] = [];
    const at = `${label}trial ${r.trial} (${r.kind})`;
    counts.trials++;
    const kind = (counts.byKind[r.kind] ??= { trials: 0, docsDamaged: 0, detected: 0, repaired: 0, silentlyWrong: 0, staleKnownLimit: 0, crashed: 0 });
    kind.trials++;
    if (r.crashed) {
      counts.crashesWithoutMessage++;
      kind.crashed++;
      return [`${at} crashed: ${r.crashed}`];
    }
    if (r.openError) {
      counts.unexpectedErrors++;
      return [`${at} failed: ${r.openError}`];
    }
    if (r.refused) {
      if (/data\.mdb/.test(r.refused) || /keyring|key/.test(r.refused)) counts.refusedWithMessage++;
      else failures.push(`${at} refused without naming the file: ${r.refused}`);
    }
    for (const [id, before] of Object.entries(r.before ?? {})) {
      const after = r.after?.[id];
      if (before === "ok") continue;
      counts.docsDamaged++;
      kind.docsDamaged++;
      if (before === "wrong") {
        // An older copy of the whole file is a consistent older state: only the peers can tell (README, Guarantees).
        // A store rebuilt after a refusal may hold one too; it is not ready (RESTORED) until its first round.
        if (r.refused) counts.docsStaleWhileNotReady++;
        else if (r.kind === "older-copy") counts.docsStaleOlderCopy++;
        if (r.refused || r.kind === "older-copy") kind.staleKnownLimit++;
        else {
          counts.docsSilentlyWrong++;
          kind.silentlyWrong++;
          failures.push(`${at} served ${id} with wrong content`);
        }
      } else if (before === "corrupt_record") {
        counts.docsDetectedCorrupt++;
        kind.detected++;
      } else if (before === "not_found") {
        counts.docsMissing++;
        kind.detected++;
      } else failures.push(`${at} read ${id}: ${before}`);
      if (after === "ok") {
        counts.docsRepairedInOneRound++;
        kind.repaired++;
      } else {
        counts.docsNotRepaired++;
        failures.push(`${at} left ${id} ${after} after one anti-entropy round`);
      }
    }
    counts.docsRewrittenFromPeer += r.docsRepaired ?? 0;
    return failures;
  }

  return { counts, add };
}
