/**
 * Reconnect delays: after each failed attempt the client moves to the next
 * region at once (well, after a short jittered pause); once it has tried them
 * all, the pause doubles per round up to a cap. Jitter ("equal jitter": half
 * fixed, half random) keeps a fleet of clients from reconnecting in lockstep
 * after a region restarts.
 */
import type { Random } from "../runtime/random.ts";

export interface BackoffOptions {
  /** First pause, ms. Default 250. */
  initialMs?: number;
  /** Longest pause, ms. Default 30,000. */
  maxMs?: number;
}

/** The pause before attempt number `failures` (1 after the first failure), with `regions` regions to go round. */
export function backoffDelay(failures: number, regions: number, random: Random, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 30_000;
  const rounds = Math.floor(Math.max(0, failures - 1) / Math.max(1, regions));
  const ceiling = Math.min(max, initial * 2 ** Math.min(rounds, 30));
  return ceiling / 2 + random.float() * (ceiling / 2);
}
