/**
 * A seed sweep: the same options over a range of seeds, one run after the
 * other, with the figures an engineer needs at the end — how many passed, the
 * spread of convergence times, and for every failure the command that replays it.
 */
import { ConcordError } from "../src/errors.ts";
import type { SimOptions } from "./options.ts";
import { runSimulation, type SimResult } from "./run.ts";

/** Parses "7", "1..1000" or "1,5,9" into a list of seeds. */
export function parseSeeds(text: string): number[] {
  const range = /^(\d+)\.\.(\d+)$/.exec(text.trim());
  if (range) {
    const from = Number(range[1]);
    const to = Number(range[2]);
    if (to < from || to - from > 1_000_000) throw new ConcordError("invalid_argument", `--seeds ${text}: expected FROM..TO with FROM <= TO`);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  }
  const seeds = text.split(",").map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new ConcordError("invalid_argument", `--seeds ${text}: expected N, FROM..TO or a comma list`);
  return seeds;
}

/** What a sweep keeps of each run (the full results would hold every timeline). */
export interface SeedSummary {
  seed: number;
  ok: boolean;
  convergenceMs: number | null;
  lostWrites: number;
  events: number;
  traceHash: string;
  violations: string[];
  replay: string;
}

export interface SweepResult {
  seeds: SeedSummary[];
  failures: SeedSummary[];
  events: number;
}

export function summarize(result: SimResult): SeedSummary {
  return {
    seed: result.seed,
    ok: result.violations.length === 0,
    convergenceMs: result.convergenceMs,
    lostWrites: result.lostWrites,
    events: result.events,
    traceHash: result.traceHash,
    violations: result.violations.map((v) => `${v.kind}: ${v.message}`),
    replay: result.replay,
  };
}

export async function runSweep(
  seeds: readonly number[], options: Partial<SimOptions>, onSeed?: (summary: SeedSummary, done: number) => void,
): Promise<SweepResult> {
  const out: SeedSummary[] = [];
  let events = 0;
  for (const seed of seeds) {
    const summary = summarize(await runSimulation({ ...options, seed }));
    events += summary.events;
    out.push(summary);
    onSeed?.(summary, out.length);
  }
  return { seeds: out, failures: out.filter((s) => !s.ok), events };
}

/** The nearest-rank percentile of some numbers (undefined when there are none). */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
