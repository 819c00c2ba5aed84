/** What every fuzz target counts, in the probe table's columns, and the options they share. */
export interface FuzzTally {
  target: string;
  tried: number;
  refused: number;
  accepted: number;
  crashed: number;
  hung: number;
  poisoned: number;
  /** The first few failures, each with what reproduces it. */
  failures: string[];
}

export interface FuzzOptions {
  seed: number;
  inputs: number;
  /** An input taking longer than this counts as a hang (reported, not asserted). */
  slowMs?: number;
  now?: () => number;
}

export const newTally = (target: string): FuzzTally => ({ target, tried: 0, refused: 0, accepted: 0, crashed: 0, hung: 0, poisoned: 0, failures: [] });

export const counts = ["tried", "refused", "accepted", "crashed", "hung", "poisoned"] as const;

/** Adds `part` into `total`, keeping at most five failures. */
export function addTally(total: FuzzTally, part: FuzzTally): void {
  for (const key of counts) total[key] += part[key];
  total.failures.push(...part.failures.slice(0, Math.max(0, 5 - total.failures.length)));
}
