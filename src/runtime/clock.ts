/**
 * Time, injected. Everything outside src/runtime and the adapters receives a
 * Clock, so the simulator can run the same code on virtual time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (virtual in the simulator). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; the returned function cancels it. */
  timer(ms: number, fn: () => void): () => void;
}

/** Wall-clock time and real timers. Timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  timer(ms, fn) {
    const handle = setTimeout(fn, ms);
    (handle as { unref?: () => void }).unref?.();
    return () => clearTimeout(handle);
  },
};

/** A clock that moves only when told to: for unit tests. */
export interface ManualClock extends Clock {
  /** Moves time forward, firing due timers in deadline order. */
  advance(ms: number): void;
}

export function createManualClock(startMs = 0): ManualClock {
  let now = startMs;
  let nextId = 0;
  const timers = new Map<number, { at: number; seq: number; fn: () => void }>();
  return {
    now: () => now,
    timer(ms, fn) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), seq: id, fn });
      return () => void timers.delete(id);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let due: [number, { at: number; seq: number; fn: () => void }] | undefined;
        for (const entry of timers) {
          if (entry[1].at > end) continue;
          if (!due || entry[1].at < due[1].at || (entry[1].at === due[1].at && entry[1].seq < due[1].seq)) due = entry;
        }
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
      }
      now = end;
    },
  };
}
