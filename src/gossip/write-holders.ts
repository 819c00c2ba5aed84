/**
 * Which peers hold which of this region's writes durably, and the writes
 * waiting to be held by enough regions (durability "majority" / "all").
 * Bounded: the oldest writes are forgotten past `maxWrites`, so a dead peer
 * cannot grow it.
 */
import type { Clock } from "../runtime/clock.ts";

export interface WriteHolders {
  /** Notes that `peer` persisted local write `localSeq`; wakes the waiters it satisfies. */
  record(localSeq: number, peer: string): void;
  /** Resolves with how many regions (this one included) hold `localSeq` once `needed` do, or at the timeout. */
  waitFor(localSeq: number, needed: number, timeoutMs: number): Promise<number>;
  /** Resolves every waiter now, with what it has (the replication is stopping). */
  releaseAll(): void;
}

export function createWriteHolders(clock: Clock, maxWrites = 100_000): WriteHolders {
  const holders = new Map<number, Set<string>>();
  const waiters = new Set<{ localSeq: number; needed: number; done: (count: number) => void }>();
  const count = (localSeq: number) => 1 + (holders.get(localSeq)?.size ?? 0);
  let released = false;

  return {
    record(localSeq, peer) {
      let set = holders.get(localSeq);
      if (!set) holders.set(localSeq, (set = new Set()));
      set.add(peer);
      while (holders.size > maxWrites) holders.delete(holders.keys().next().value!);
      for (const w of [...waiters]) if (w.localSeq === localSeq && 1 + set.size >= w.needed) w.done(1 + set.size);
    },
    waitFor(localSeq, needed, timeoutMs) {
      const have = count(localSeq);
      if (have >= needed || released) return Promise.resolve(have);
      return new Promise((resolve) => {
        const waiter = {
          localSeq, needed,
          done: (n: number) => {
            waiters.delete(waiter);
            cancel();
            resolve(n);
          },
        };
        const cancel = clock.timer(timeoutMs, () => waiter.done(count(localSeq)));
        waiters.add(waiter);
      });
    },
    releaseAll() {
      released = true;
      for (const w of [...waiters]) w.done(count(w.localSeq));
    },
  };
}
