import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import { type Clock, createManualClock } from "../../src/runtime/clock.ts";
import { toHex } from "../../src/storage/bytes.ts";
import { createMemoryDisk, createMemoryStore, type MemoryDisk } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { runStoreConformance } from "../conformance/store.ts";

function memoryFixture(disk: MemoryDisk) {
  let store = disk.open();
  return {
    store,
    reopen: async (): Promise<Store> => {
      await store.close();
      store = disk.open();
      return store;
    },
    cleanup: async (): Promise<void> => {
      await store.close();
    },
  };
}

/** Fires due timers in deadline order on a microtask: write latency without real time. */
function createEagerClock(): Clock {
  let now = 0;
  let seq = 0;
  let scheduled = false;
  const timers: Array<{ at: number; seq: number; fn: () => void; cancelled: boolean }> = [];
  const drain = (): void => {
    scheduled = false;
    const due = timers.splice(0).sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const timer of due) {
      if (timer.cancelled) continue;
      now = Math.max(now, timer.at);
      timer.fn();
    }
  };
  return {
    now: () => now,
    timer(ms, fn) {
      const timer = { at: now + ms, seq: seq++, fn, cancelled: false };
      timers.push(timer);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(drain);
      }
      return () => void (timer.cancelled = true);
    },
  };
}

/** Lets every queued microtask (and the promise chains they start) run. */
const settleMicrotasks = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

async function keysOf(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const [key] of store.scan(bytes())) out.push(toHex(key));
  return out;
}

/** Tracks whether a promise has settled, without awaiting it. */
function track(promise: Promise<unknown>): { settled: () => boolean } {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { settled: () => settled };
}

async function rejectsClosed(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isConcordError(error, "closed"), `expected ConcordError("closed"), got ${String(error)}`).toBe(true);
}

runStoreConformance("memory", async () => memoryFixture(createMemoryDisk()));
runStoreConformance("memory with write latency", async () =>
  memoryFixture(createMemoryDisk({ clock: createEagerClock(), writeLatencyMs: 5 })),
);

describe("memory disk", () => {
  it("keeps resolved writes and drops unresolved ones at a crash", async () => {
    const clock = createManualClock();
    const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
    const store = disk.open();
    const first = store.write([{ key: bytes(1), value: bytes(1) }]);
    clock.advance(10);
    await first;
    const second = track(store.write([{ key: bytes(2), value: bytes(2) }]));
    expect(disk.inFlight()).toBe(1);
    disk.crash();
    clock.advance(100);
    await settleMicrotasks();
    expect(second.settled()).toBe(false);
    expect(disk.inFlight()).toBe(0);
    expect(await keysOf(disk.open())).toEqual(["01"]);
  });

  it("can drop a zero-latency write if the crash comes before its microtask", async () => {
    const disk = createMemoryDisk();
    const store = disk.open();
    await store.write([{ key: bytes(1), value: bytes(1) }]);
    const lost = track(store.write([{ key: bytes(2), value: bytes(2) }]));
    disk.crash();
    await settleMicrotasks();
    expect(lost.settled()).toBe(false);
    expect(await keysOf(disk.open())).toEqual(["01"]);
  });

  it("shows readers only durable writes", async () => {
    const clock = createManualClock();
    const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
    const store = disk.open();
    const written = store.write([{ key: bytes(1), value: bytes(1) }]);
    expect(await store.get(bytes(1))).toBeUndefined();
    expect(disk.size()).toBe(0);
    clock.advance(10);
    await written;
    expect(await store.get(bytes(1))).toEqual(bytes(1));
  });

  it("applies a prefix of the in-flight batches, each whole, when applyInFlight says they made it", async () => {
    const clock = createManualClock();
    const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
    const store = disk.open();
    const writes = [0, 1, 2, 3].map((i) =>
      track(store.write([{ key: bytes(0xa0, i), value: bytes(i) }, { key: bytes(0xb0, i), value: bytes(i) }])),
    );
    const asked: number[] = [];
    disk.crash({ applyInFlight: (i) => (asked.push(i), i < 2) });
    expect(asked).toEqual([0, 1, 2]);
    await settleMicrotasks();
    expect(writes.map((w) => w.settled())).toEqual([false, false, false, false]);
    expect(await keysOf(disk.open())).toEqual(["a000", "a001", "b000", "b001"]);
  });

  it("never lands a batch after one that did not make it", async () => {
    const clock = createManualClock();
    const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
    const store = disk.open();
    for (let i = 0; i < 4; i++) void store.write([{ key: bytes(i), value: bytes(i) }]);
    const asked: number[] = [];
    disk.crash({ applyInFlight: (i) => (asked.push(i), i !== 1) });
    expect(asked).toEqual([0, 1]);
    expect(await keysOf(disk.open())).toEqual(["00"]);
  });

  it("kills every handle opened before the crash, mid-scan included, and opens fresh ones", async () => {
    const disk = createMemoryDisk();
    const a = disk.open();
    const b = disk.open();
    const keys = [];
    for (let i = 0; i < 300; i++) keys.push({ key: bytes(1, i >> 8, i & 0xff), value: bytes(1) });
    await a.write(keys);
    const scan = b.scan(bytes(1))[Symbol.asyncIterator]();
    expect((await scan.next()).done).toBe(false);
    disk.crash();
    for (const dead of [a, b]) {
      await rejectsClosed(dead.get(bytes(1, 0, 0)));
      await rejectsClosed(dead.write([{ key: bytes(9), value: bytes(9) }]));
      await rejectsClosed(keysOf(dead));
      await dead.close();
    }
    await rejectsClosed(scan.next());
    const fresh = disk.open();
    expect(await fresh.get(bytes(1, 0, 0))).toEqual(bytes(1));
    await fresh.write([{ key: bytes(9), value: bytes(9) }]);
    expect(await fresh.get(bytes(9))).toEqual(bytes(9));
  });

  it("lands batches in call order whatever order its clock fires their timers in", async () => {
    const fired: Array<{ fn: () => void; cancelled: boolean }> = [];
    const clock: Clock = {
      now: () => 0,
      timer(_ms, fn) {
        const timer = { fn, cancelled: false };
        fired.push(timer);
        return () => void (timer.cancelled = true);
      },
    };
    const disk = createMemoryDisk({ clock, writeLatencyMs: 1 });
    const store = disk.open();
    const order: number[] = [];
    const writes = [0, 1, 2].map((i) => store.write([{ key: bytes(7), value: bytes(i) }]).then(() => void order.push(i)));
    for (const timer of fired.reverse()) if (!timer.cancelled) timer.fn();
    await Promise.all(writes);
    expect(order).toEqual([0, 1, 2]);
    expect(await store.get(bytes(7))).toEqual(bytes(2));
  });

  it("makes close() wait for the handle's writes to land, but not past a crash", async () => {
    const clock = createManualClock();
    const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
    const store = disk.open();
    const written = track(store.write([{ key: bytes(1), value: bytes(1) }]));
    const closed = track(store.close());
    await settleMicrotasks();
    expect(closed.settled()).toBe(false);
    clock.advance(10);
    await settleMicrotasks();
    expect([written.settled(), closed.settled()]).toEqual([true, true]);

    const other = disk.open();
    const lost = track(other.write([{ key: bytes(2), value: bytes(2) }]));
    const closing = track(other.close());
    disk.crash();
    await settleMicrotasks();
    expect([lost.settled(), closing.settled()]).toEqual([false, true]);
  });

  it("reports the bytes at rest as sorted copies, without in-flight writes", async () => {
    const clock = createManualClock();
    const disk = createMemoryDisk({ clock, writeLatencyMs: 10 });
    const store = disk.open();
    const durable = store.write([{ key: bytes(0xff), value: bytes(1) }, { key: bytes(0x00), value: bytes(2, 3) }]);
    clock.advance(10);
    await durable;
    void store.write([{ key: bytes(0x50), value: bytes(4) }]);
    expect(disk.size()).toBe(2);
    const entries = disk.entries();
    expect(entries.map(([k, v]) => [toHex(k), toHex(v)])).toEqual([
      ["00", "0203"],
      ["ff", "01"],
    ]);
    entries[0]![1].fill(0);
    expect(await store.get(bytes(0x00))).toEqual(bytes(2, 3));
  });

  it("rejects a negative or non-finite write latency", () => {
    for (const writeLatencyMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createMemoryDisk({ writeLatencyMs })).toThrowError(expect.objectContaining({ code: "invalid_argument" }));
    }
  });

  it("gives a working store from createMemoryStore()", async () => {
    const store = createMemoryStore();
    await store.write([{ key: bytes(1), value: bytes(2) }]);
    expect(await store.get(bytes(1))).toEqual(bytes(2));
    await store.close();
  });
});
