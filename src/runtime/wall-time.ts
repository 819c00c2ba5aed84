/**
 * Wall-clock helpers for the command line (progress, deadlines, polling).
 * They live here because src/runtime is the one place that reads real time.
 */

/** Starts a stopwatch; the returned function gives the milliseconds elapsed. */
export function stopwatch(): () => number {
  const start = performance.now();
  return () => performance.now() - start;
}

/** Milliseconds since the Unix epoch. */
export const wallNowMs = (): number => Date.now();

/** Resolves after `ms` milliseconds of real time. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
