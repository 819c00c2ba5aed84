import { describe, expect, it } from "vitest";
import { createManualClock, type Clock } from "../../src/runtime/clock.ts";
import { catchUpWithAPeer } from "../../src/server/catch-up.ts";

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("catching up with a peer", () => {
  it("tries every peer in turn, backs off between passes, and stops at the first completed round", async () => {
    const clock = createManualClock(0);
    const tried: string[] = [];
    const done = catchUpWithAPeer({
      peers: ["p1", "p2"],
      clock,
      signal: new AbortController().signal,
      round: async (peer) => {
        tried.push(`${peer}@${clock.now()}`);
        if (tried.length < 4) throw new Error("unreachable");
      },
    });
    for (let i = 0; i < 20; i++) {
      await flush();
      clock.advance(50);
    }
    expect(await done).toBe(true);
    expect(tried).toEqual(["p1@0", "p2@0", "p1@250", "p2@250"]);
  });

  it("ends at once, leaving no timer, when the region stops", async () => {
    const manual = createManualClock(0);
    const live = new Set<() => void>();
    // Counts the timers still pending.
    const clock: Clock = {
      now: manual.now,
      timer(ms, fn) {
        const cancel = manual.timer(ms, () => {
          live.delete(cancel);
          fn();
        });
        live.add(cancel);
        return () => {
          live.delete(cancel);
          cancel();
        };
      },
    };
    const stop = new AbortController();
    const done = catchUpWithAPeer({ peers: ["p1"], clock, signal: stop.signal, round: () => Promise.reject(new Error("down")) });
    await flush();
    expect(live.size).toBe(1); // backing off
    stop.abort();
    expect(await done).toBe(false);
    expect(live.size).toBe(0);
  });
});
