/**
 * Replay protection for one sender: accepts each counter at most once, and
 * only counters no more than `size` behind the highest seen. A window (as in
 * IPsec and WireGuard) rather than "strictly increasing" because requests in
 * flight together may arrive reordered.
 */
export interface ReplayWindow {
  /** True if `counter` is fresh; marks it seen. False for a replay or a counter too old. */
  accept(counter: bigint): boolean;
  /** True if `counter` would be accepted, without marking it. */
  check(counter: bigint): boolean;
  /** The highest counter accepted so far (-1 before the first). */
  highest(): bigint;
}

export function createReplayWindow(size = 1024): ReplayWindow {
  let highest = -1n;
  const seen = new Set<bigint>();
  const window = BigInt(size);
  const check = (counter: bigint) => counter > highest || (counter > highest - window && !seen.has(counter));
  return {
    check,
    highest: () => highest,
    accept(counter) {
      if (!check(counter)) return false;
      seen.add(counter);
      if (counter > highest) {
        highest = counter;
        // Forget what fell out of the window: memory stays bounded by `size`.
        if (seen.size > size * 2) for (const c of seen) if (c <= highest - window) seen.delete(c);
      }
      return true;
    },
  };
}
