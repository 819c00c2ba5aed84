import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { createManualClock, type Clock } from "../../src/runtime/clock.ts";
import { DeadlineQueue } from "../../src/server/deadline-queue.ts";
import { createPingQueue, type PingedSocket } from "../../src/server/socket-pings.ts";

/** A manual clock that also counts how many timers are pending, to prove the queue keeps one. */
function countingClock() {
  const clock = createManualClock(1_000);
  let pending = 0;
  const counted: Clock = {
    now: clock.now,
    timer(ms, fn) {
      pending++;
      let live = true;
      const stop = clock.timer(ms, () => {
        live = false;
        pending--;
        fn();
      });
      return () => {
        if (live) pending--;
        live = false;
        stop();
      };
    },
  };
  return { clock: counted, advance: (ms: number) => clock.advance(ms), pending: () => pending };
}

describe("DeadlineQueue", () => {
  it("fires each entry exactly its delay after its last touch, in deadline order, on one timer", () => {
    const { clock, advance, pending } = countingClock();
    const fired: Array<[string, number]> = [];
    const queue = new DeadlineQueue<string>(clock, 100, (entry) => fired.push([entry, clock.now()]));
    queue.touch("a"); // due 1100
    advance(30);
    queue.touch("b"); // due 1130
    advance(20);
    queue.touch("c"); // due 1150
    queue.touch("a"); // touched again: due 1150, after c
    expect(pending()).toBe(1);
    advance(99); // 1149
    expect(fired).toEqual([["b", 1130]]);
    advance(1); // 1150
    expect(fired).toEqual([["b", 1130], ["c", 1150], ["a", 1150]]);
    expect(queue.size).toBe(0);
    expect(pending()).toBe(0);
  });

  it("never fires a removed entry, and drops its timer when the queue empties", () => {
    const { clock, advance, pending } = countingClock();
    const fired: string[] = [];
    const queue = new DeadlineQueue<string>(clock, 100, (entry) => fired.push(entry));
    queue.touch("a");
    queue.touch("b");
    queue.remove("a");
    advance(100);
    expect(fired).toEqual(["b"]);
    queue.touch("c");
    queue.remove("c");
    expect(pending()).toBe(0);
    advance(1_000);
    expect(fired).toEqual(["b"]);
  });

  it("repeats an entry that touches itself when due, at the same period as a re-armed timer", () => {
    const { clock, advance } = countingClock();
    const at: number[] = [];
    const queue: DeadlineQueue<string> = new DeadlineQueue<string>(clock, 250, (entry) => {
      at.push(clock.now());
      queue.touch(entry);
    });
    queue.touch("x");
    advance(1_000);
    expect(at).toEqual([1_250, 1_500, 1_750, 2_000]);
  });
});

describe("createPingQueue", () => {
  const socket = () => {
    const calls: string[] = [];
    const ws = { ping: () => calls.push("ping"), terminate: () => calls.push("terminate") } as unknown as WebSocket;
    const pinged: PingedSocket & { calls: string[] } = { ws, awaitingPong: false, calls };
    return pinged;
  };

  it("pings every pingMs and terminates a socket that missed the previous pong", () => {
    const { clock, advance } = countingClock();
    const pings = createPingQueue(clock, 30_000);
    const answering = socket();
    const silent = socket();
    pings.touch(answering);
    pings.touch(silent);
    advance(29_999);
    expect(answering.calls).toEqual([]);
    advance(1);
    expect(answering.calls).toEqual(["ping"]);
    expect(silent.calls).toEqual(["ping"]);
    answering.awaitingPong = false; // its pong came back
    advance(30_000);
    expect(answering.calls).toEqual(["ping", "ping"]);
    expect(silent.calls).toEqual(["ping", "terminate"]);
    expect(pings.size).toBe(1); // the terminated socket is out of the queue
  });
});
