/**
 * The in-memory Store, with crash semantics, for the simulator and tests. A
 * `MemoryDisk` holds the durable contents and outlives the Store handles
 * opened over it; `crash()` models a power cut: batches not yet durable are
 * lost (or, if the caller says so, an in-order prefix of them made it), and
 * every open handle dies, as the process that held it would.
 *
 * Isomorphic: no Node built-ins, and time only through the injected Clock.
 * A write becomes durable ("lands") after `writeLatencyMs` on that clock, or
 * on a microtask when the latency is 0; reads see landed writes only, so a
 * reader never sees anything a crash could still take away.
 *
 * Several handles open on one disk at once behave as several processes
 * sharing one database (a region on PostgreSQL): their batches land in one
 * order, and a conditional batch is checked as it lands, against everything
 * landed before it, whichever handle wrote it.
 */
import { ConcordError } from "../errors.ts";
import { type Clock, systemClock } from "../runtime/clock.ts";
import { copyBytes, fromByteString, prefixEnd, toByteString } from "./bytes.ts";
import { createSortedKeyIndex } from "./sorted-key-index.ts";
import { checkBatch, checkKey, checkPrefix, closedError } from "./store-checks.ts";
import { checkExpectations, conflictError, unmetKeys } from "./store-expect.ts";
import type { Store, StoreExpectation, StoreSnapshot, StoreWrite } from "./store.ts";

export interface MemoryDiskOptions {
  /** Schedules write latency; only consulted when `writeLatencyMs` > 0. Default: the system clock. */
  clock?: Clock;
  /** Time from `write()` to durable, in the clock's milliseconds. Default 0: durable on a microtask. */
  writeLatencyMs?: number;
}

export interface CrashOptions {
  /**
   * Decides, for the batches in flight at the crash (index 0 is the oldest),
   * whether each one reached the disk. It is asked in order and no longer
   * after its first `false`: a later batch cannot land without the earlier
   * ones. A batch that made it is applied whole; one that did not is lost
   * whole. Default: none made it.
   */
  applyInFlight?: (batchIndex: number) => boolean;
}

export interface MemoryDisk {
  /** A new Store over the durable contents. Any number may be open at once; all share one disk. */
  open(): Store;
  /**
   * A power cut. Every handle opened so far dies: its calls reject with
   * ConcordError("closed") and its close() resolves at once. Promises of
   * batches in flight never settle, whether or not the batch made it to the
   * disk: the process that would have heard the answer is gone, so no
   * continuation of it runs. Open a fresh handle with `open()`.
   */
  crash(options?: CrashOptions): void;
  /** Number of durable entries. */
  size(): number;
  /** Copies of the durable entries in ascending key order: the bytes at rest, for tests to inspect. */
  entries(): Array<[Uint8Array, Uint8Array]>;
  /** Number of batches issued but not yet durable. */
  inFlight(): number;
}

/** Keys read per step of a scan: bounds the work between two checks of the handle. */
const scanPageKeys = 256;

interface InFlightBatch {
  readonly writes: ReadonlyArray<readonly [string, Uint8Array | undefined]>;
  /** Checked as the batch lands, against the batches landed before it: the order a real store checks in. */
  readonly expect: readonly StoreExpectation[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** Settles the internal promise close() waits on; called when the batch lands or is lost. */
  readonly settle: () => void;
  cancelTimer: (() => void) | undefined;
  state: "queued" | "landed" | "lost";
}

/** A disk that survives simulated crashes. Throws ConcordError("invalid_argument") on a bad latency. */
export function createMemoryDisk(options: MemoryDiskOptions = {}): MemoryDisk {
  const writeLatencyMs = options.writeLatencyMs ?? 0;
  if (!Number.isFinite(writeLatencyMs) || writeLatencyMs < 0) {
    throw new ConcordError("invalid_argument", `writeLatencyMs must be a finite number >= 0, got ${writeLatencyMs}`);
  }
  const clock = options.clock ?? systemClock;

  // Durable contents: byte-string key -> value, plus the ordered key set for scans.
  const data = new Map<string, Uint8Array>();
  const index = createSortedKeyIndex();
  // Batches issued and not yet durable, oldest first; they land in this order.
  const queue: InFlightBatch[] = [];
  // Bumped by every crash; a handle is alive only in the generation it was opened in.
  let generation = 0;

  /** Applies the batch if its expectations hold; the keys that did not (then nothing was applied). */
  function apply(batch: Pick<InFlightBatch, "writes" | "expect">): Uint8Array[] {
    const unmet = batch.expect.length === 0 ? [] : unmetKeys(batch.expect, (key) => data.get(toByteString(key)));
    if (unmet.length === 0) applyWrites(batch.writes);
    return unmet;
  }

  function applyWrites(writes: InFlightBatch["writes"]): void {
    for (const [key, value] of writes) {
      if (value === undefined) {
        if (data.delete(key)) index.delete(key);
      } else {
        if (!data.has(key)) index.add(key);
        data.set(key, value);
      }
    }
  }

  /** Lands every queued batch up to and including `target`, oldest first, so order holds whatever fires first. */
  function landThrough(target: InFlightBatch): void {
    if (target.state !== "queued") return;
    for (;;) {
      const batch = queue.shift();
      if (!batch) return;
      batch.cancelTimer?.();
      const unmet = apply(batch);
      batch.state = "landed";
      batch.settle();
      if (unmet.length === 0) batch.resolve();
      else batch.reject(conflictError(unmet, "the memory store"));
      if (batch === target) return;
    }
  }

  function enqueue(batch: readonly StoreWrite[], expect: readonly StoreExpectation[]): { done: Promise<void>; settled: Promise<void> } {
    // Copy now: the caller may reuse its arrays as soon as write() returns.
    const writes = batch.map((entry) => [toByteString(entry.key), entry.value && copyBytes(entry.value)] as const);
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    let settle!: () => void;
    const done = new Promise<void>((r, j) => {
      resolve = r;
      reject = j;
    });
    const settled = new Promise<void>((r) => (settle = r));
    const item: InFlightBatch = { writes, expect, resolve, reject, settle, cancelTimer: undefined, state: "queued" };
    queue.push(item);
    if (writeLatencyMs === 0) queueMicrotask(() => landThrough(item));
    else item.cancelTimer = clock.timer(writeLatencyMs, () => landThrough(item));
    return { done, settled };
  }

  function open(): Store {
    const openedIn = generation;
    let closing: Promise<void> | undefined;
    // The newest batch this handle issued settles last (the queue is FIFO), so close() waits on it alone.
    let lastSettled: Promise<void> = Promise.resolve();
    const ensureOpen = (): void => {
      if (closing !== undefined || openedIn !== generation) throw closedError("the memory store");
    };

    return {
      async get(key) {
        ensureOpen();
        checkKey(key);
        const value = data.get(toByteString(key));
        return value && copyBytes(value);
      },

      async write(batch, options) {
        ensureOpen();
        checkBatch(batch);
        const expect = checkExpectations(options?.expect);
        const { done, settled } = enqueue(batch, expect);
        lastSettled = settled;
        return done;
      },

      async *scan(prefix) {
        ensureOpen();
        checkPrefix(prefix);
        const end = prefixEnd(prefix);
        const endKey = end && toByteString(end);
        let cursor = toByteString(prefix);
        let exclusive = false;
        for (;;) {
          const page = index.range(cursor, exclusive, endKey, scanPageKeys);
          for (const key of page) {
            // The consumer may have awaited anything between two entries, a crash included.
            ensureOpen();
            const value = data.get(key);
            if (value === undefined) continue; // deleted since the page was read
            yield [fromByteString(key), copyBytes(value)];
          }
          if (page.length < scanPageKeys) return;
          cursor = page[page.length - 1]!;
          exclusive = true;
        }
      },

      async snapshot() {
        ensureOpen();
        // Values in `data` are never mutated, only replaced, so holding references is a snapshot.
        const view = index.range("", false, undefined, Number.POSITIVE_INFINITY).map((key) => [key, data.get(key)!] as const);
        return snapshotOf(view, ensureOpen);
      },

      close() {
        closing ??= lastSettled;
        return closing;
      },
    };
  }

  return {
    open,

    crash(crashOptions = {}) {
      generation++;
      const lost = queue.splice(0);
      let reached = true;
      for (let i = 0; i < lost.length; i++) {
        const batch = lost[i]!;
        batch.cancelTimer?.();
        reached = reached && crashOptions.applyInFlight?.(i) === true;
        // A conditional batch that reached the disk is still checked there: its expectations may fail.
        if (reached) apply(batch);
        batch.state = "lost";
        // Internal only: lets close() on a dead handle finish. The caller's promise stays pending.
        batch.settle();
      }
    },

    size: () => data.size,

    entries() {
      return index
        .range("", false, undefined, Number.POSITIVE_INFINITY)
        .map((key) => [fromByteString(key), copyBytes(data.get(key)!)] as [Uint8Array, Uint8Array]);
    },

    inFlight: () => queue.length,
  };
}

function snapshotOf(view: ReadonlyArray<readonly [string, Uint8Array]>, ensureOpen: () => void): StoreSnapshot {
  let released = false;
  const check = () => {
    if (released) throw closedError("a released snapshot of the memory store");
    ensureOpen();
  };
  return {
    async count() {
      check();
      return view.length;
    },
    async *entries() {
      check();
      for (const [key, value] of view) {
        check();
        yield [fromByteString(key), copyBytes(value)];
      }
    },
    release() {
      released = true;
    },
  };
}

/** Shorthand for a store nobody will crash: `createMemoryDisk().open()`. */
export function createMemoryStore(): Store {
  return createMemoryDisk().open();
}
