/**
 * The client's reconnect schedule on injected time and randomness (no
 * network): an unreachable home sends it round the regions, pauses grow
 * exponentially with jitter once all have failed, and stay under the cap.
 */
import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../src/client/backoff.ts";
import { connect } from "../../src/client/index.ts";
import type { SocketLike, WebSocketConstructor } from "../../src/client/socket.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { memoryReplica } from "../helpers/replicas.ts";

const seed = Number(process.env["SEED"] ?? 12);

describe("reconnect backoff", () => {
  it(`pauses briefly while going round the regions, then doubles per round up to the cap, with jitter (seed ${seed})`, () => {
    const random = createSeededRandom(seed);
    const options = { initialMs: 100, maxMs: 3000 };
    const delays = Array.from({ length: 14 }, (_, i) => backoffDelay(i + 1, 2, random, options));
    // Rounds of two attempts: ceilings 100, 100, 200, 200, 400, ... capped at 3000; each pause in [ceiling/2, ceiling].
    delays.forEach((d, i) => {
      const ceiling = Math.min(3000, 100 * 2 ** Math.floor(i / 2));
      expect(d, `attempt ${i + 1}`).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d, `attempt ${i + 1}`).toBeLessThanOrEqual(ceiling);
    });
    expect(new Set(delays.slice(10).map((d) => Math.round(d))).size).toBeGreaterThan(1); // jittered, not lockstep
  });

  it("tries home, then the next region, then home again, on the injected clock", async () => {
    const clock = createManualClock(0);
    const tried: Array<{ url: string; at: number }> = [];
    // A socket that never connects: it closes (1006) on the next microtask, as a refused connection does.
    class Refused implements SocketLike {
      binaryType = "arraybuffer";
      bufferedAmount = 0;
      onopen: SocketLike["onopen"] = null;
      onmessage: SocketLike["onmessage"] = null;
      onclose: SocketLike["onclose"] = null;
      onerror: SocketLike["onerror"] = null;
      constructor(url: string) {
        tried.push({ url: new URL(url).host, at: clock.now() });
        queueMicrotask(() => this.onclose?.({ code: 1006, reason: "" }));
      }
      send(): void {}
      close(): void {}
    }
    const replica = await memoryReplica();
    const sync = await connect(replica, {
      regions: ["http://home:1", "http://away:2"], docs: { prefix: "" }, WebSocket: Refused as unknown as WebSocketConstructor,
      clock, random: createSeededRandom(seed), backoff: { initialMs: 100, maxMs: 1000 },
    });
    const offline: string[] = [];
    sync.on("offline", (e) => offline.push(new URL(e.region).host));
    for (let i = 0; i < 40; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      clock.advance(50);
    }
    await sync.close();
    await replica.close();
    expect(tried.slice(0, 6).map((t) => t.url)).toEqual(["home:1", "away:2", "home:1", "away:2", "home:1", "away:2"]);
    // (The very first offline may come before the listener is attached: connect() opens at once.)
    expect(offline.length).toBeGreaterThan(3);
    expect(offline.every((host, i) => i === 0 || host !== offline[i - 1])).toBe(true);
    const gaps = tried.slice(1).map((t, i) => t.at - tried[i]!.at);
    expect(gaps[0]).toBeLessThanOrEqual(150); // first round: short pauses
    expect(Math.max(...gaps)).toBeGreaterThan(gaps[0]!); // later rounds wait longer
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1050);
  });
});
