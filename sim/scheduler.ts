/**
 * Virtual time and the one event queue of a simulation run. Events run in
 * (time, sequence) order, so ties are broken by the order they were scheduled.
 * Each region gets its own Clock: it may run fast or slow (timer skew), and
 * while a region is paused its events are held and replayed, in order, when it
 * resumes. Nothing here reads real time.
 */
import type { Clock } from "../src/runtime/clock.ts";

/** Virtual time at which every run starts (a plausible epoch, so Automerge timestamps look sane). */
export const simEpochMs = 1_700_000_000_000;

interface SimEvent {
  at: number;
  seq: number;
  region: string | undefined;
  fn: () => void;
  cancelled: boolean;
}

/** A process lifetime: timers of a crashed incarnation never fire. */
export interface Life {
  alive: boolean;
}

export interface Scheduler {
  /** Virtual milliseconds since the start of the run. */
  now(): number;
  /** Runs `fn` at virtual time `now() + ms`; held while `region` is paused. Returns a cancel function. */
  after(ms: number, fn: () => void, region?: string): () => void;
  /** The Clock a region's process sees: skewed by its rate, silent once `life` ends. */
  clock(region: string, life?: Life): Clock;
  /** A clock for devices that outlive processes (disks): unskewed, never paused. */
  readonly deviceClock: Clock;
  /** Sets how fast a region's clock runs (1 = true time; 2 = timers fire twice as early). */
  setRate(region: string, rate: number): void;
  pause(region: string): void;
  resume(region: string): void;
  isPaused(region: string): boolean;
  /** Pops the next due event at or before `until`, advancing time to it; undefined when none. */
  next(until: number): (() => void) | undefined;
  /** Moves time forward to `t` (no event may be skipped: call next() first). */
  advanceTo(t: number): void;
  /** Events executed so far. */
  readonly executed: number;
  readonly pending: number;
}

/** A binary min-heap on (at, seq). */
function less(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export function createScheduler(): Scheduler {
  const heap: SimEvent[] = [];
  let now = 0;
  let seq = 0;
  let executed = 0;
  const paused = new Map<string, SimEvent[]>();
  const rates = new Map<string, { rate: number; anchorVirtual: number; anchorLocal: number }>();

  function push(event: SimEvent): void {
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  function pop(): SimEvent | undefined {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }

  function after(ms: number, fn: () => void, region?: string): () => void {
    const event: SimEvent = { at: now + Math.max(0, ms), seq: seq++, region, fn, cancelled: false };
    push(event);
    return () => void (event.cancelled = true);
  }

  const rateOf = (region: string) => rates.get(region) ?? { rate: 1, anchorVirtual: 0, anchorLocal: 0 };
  const localNow = (region: string): number => {
    const r = rateOf(region);
    return simEpochMs + Math.floor(r.anchorLocal + (now - r.anchorVirtual) * r.rate);
  };

  return {
    now: () => now,
    after,
    clock(region, life) {
      return {
        now: () => localNow(region),
        timer(ms, fn) {
          const rate = rateOf(region).rate;
          return after(ms / rate, () => {
            if (!life || life.alive) fn();
          }, region);
        },
      };
    },
    deviceClock: {
      now: () => simEpochMs + now,
      timer: (ms, fn) => after(ms, fn),
    },
    setRate(region, rate) {
      const local = localNow(region) - simEpochMs;
      rates.set(region, { rate, anchorVirtual: now, anchorLocal: local });
    },
    pause(region) {
      if (!paused.has(region)) paused.set(region, []);
    },
    resume(region) {
      const held = paused.get(region);
      paused.delete(region);
      for (const event of held ?? []) push({ ...event, at: now, seq: seq++ });
    },
    isPaused: (region) => paused.has(region),
    next(until) {
      for (;;) {
        const top = heap[0];
        if (!top || top.at > until) return undefined;
        pop();
        if (top.cancelled) continue;
        now = Math.max(now, top.at);
        const held = top.region === undefined ? undefined : paused.get(top.region);
        if (held) {
          held.push(top);
          continue;
        }
        executed++;
        return top.fn;
      }
    },
    advanceTo(t) {
      now = Math.max(now, t);
    },
    get executed() {
      return executed;
    },
    get pending() {
      return heap.length;
    },
  };
}
