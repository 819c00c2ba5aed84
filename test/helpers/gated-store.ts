/**
 * A Store whose reads and writes can be held at a gate and released, to force
 * one interleaving of concurrent operations, and `ticks()` to let every
 * promise that can settle do so. close() leaves the inner store open (for
 * reopening a replica over the same bytes). No timers, no real time.
 */
import type { Store } from "../../src/storage/store.ts";

export interface GatedStore extends Store {
  /** From now on, get() waits until freeGets(). */
  holdGets(): void;
  freeGets(): void;
  /** From now on, write() waits until freeWrites() (the batch is copied when issued). */
  holdWrites(): void;
  freeWrites(): void;
}

export function gated(inner: Store): GatedStore {
  let getGate: Promise<void> | undefined;
  let releaseGets = () => {};
  let writeGate: Promise<void> | undefined;
  let releaseWrites = () => {};
  return {
    async get(key) {
      if (getGate) await getGate;
      return inner.get(key);
    },
    async write(batch, options) {
      const copy = batch.map((w) => ({ key: w.key.slice(), value: w.value?.slice() }));
      const expect = options?.expect?.map((e) => ({ key: e.key.slice(), value: e.value?.slice() }));
      if (writeGate) await writeGate;
      return inner.write(copy, expect ? { expect } : undefined);
    },
    scan: (prefix) => inner.scan(prefix),
    snapshot: () => inner.snapshot(),
    close: async () => {},
    holdGets() {
      getGate = new Promise((resolve) => (releaseGets = resolve));
    },
    freeGets() {
      getGate = undefined;
      releaseGets();
    },
    holdWrites() {
      writeGate = new Promise((resolve) => (releaseWrites = resolve));
    },
    freeWrites() {
      writeGate = undefined;
      releaseWrites();
    },
  };
}

/** Lets `n` rounds of pending I/O callbacks and promise continuations run. */
export async function ticks(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
