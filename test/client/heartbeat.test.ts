/**
 * The sync socket's heartbeat on injected time, with sockets that never say
 * anything (no network): a region that goes silent without closing is given
 * up within two intervals and the client moves to the next region; a region
 * that answers pings keeps its socket however long it lasts.
 */
import { describe, expect, it } from "vitest";
import { connect, type SyncClient } from "../../src/client/index.ts";
import { decodeFrame, encodeFrame, type ServerMessage } from "../../src/client/protocol.ts";
import type { SocketLike, WebSocketConstructor } from "../../src/client/socket.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { memoryReplica } from "../helpers/replicas.ts";

const seed = Number(process.env["SEED"] ?? 5);

/**
 * Sockets that open at once (unless `opens` says the host swallows the handshake: then they never open nor close);
 * a region answers `ping` with `pong` only while `answering` holds for its host.
 */
function fakeRegions(answering: (host: string) => boolean, opens: (host: string) => boolean = () => true) {
  const opened: Array<{ host: string; socket: FakeSocket }> = [];
  class FakeSocket implements SocketLike {
    binaryType = "arraybuffer";
    bufferedAmount = 0;
    closed = false;
    pings = 0;
    onopen: SocketLike["onopen"] = null;
    onmessage: SocketLike["onmessage"] = null;
    onclose: SocketLike["onclose"] = null;
    onerror: SocketLike["onerror"] = null;
    constructor(readonly url: string) {
      opened.push({ host: new URL(url).host, socket: this });
      if (opens(new URL(url).host)) queueMicrotask(() => this.onopen?.({}));
    }
    send(data: Uint8Array): void {
      const type = decodeFrame(data).header["t"];
      if (!answering(new URL(this.url).host)) {
        if (type === "ping") this.pings++;
        return;
      }
      const answer = (header: ServerMessage) => queueMicrotask(() => this.onmessage?.({ data: encodeFrame(header).slice().buffer }));
      if (type === "hello") answer({ t: "synced", region: this.url }); // as for a client holding what the region holds
      if (type === "ping") {
        this.pings++;
        answer({ t: "pong" });
      }
    }
    close(): void {
      this.closed = true; // a half-open socket never reports its close
    }
  }
  return { opened, WebSocket: FakeSocket as unknown as WebSocketConstructor };
}

async function run(clock: ReturnType<typeof createManualClock>, steps: number, stepMs: number): Promise<void> {
  for (let i = 0; i < steps; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    clock.advance(stepMs);
  }
}

describe("sync heartbeat", () => {
  it(`gives up on a silent region within two intervals and tries the next one (seed ${seed})`, async () => {
    const clock = createManualClock(0);
    const regions = fakeRegions((host) => host !== "home:1");
    const replica = await memoryReplica();
    const sync: SyncClient = await connect(replica, {
      regions: ["http://home:1", "http://away:2"], docs: { prefix: "" }, WebSocket: regions.WebSocket,
      clock, random: createSeededRandom(seed), heartbeatMs: 1000, backoff: { initialMs: 10, maxMs: 10 },
    });
    const offline: Array<{ at: number; region: string; reason: string }> = [];
    sync.on("offline", (e) => offline.push({ at: clock.now(), region: e.region, reason: e.reason }));
    await run(clock, 40, 100);
    expect(regions.opened[0]!.host).toBe("home:1");
    expect(regions.opened[0]!.socket.pings).toBe(1);
    expect(regions.opened[0]!.socket.closed).toBe(true);
    expect(offline[0]).toMatchObject({ region: "http://home:1", reason: expect.stringContaining("heartbeat") });
    expect(offline[0]!.at).toBeLessThanOrEqual(2000);
    expect(regions.opened[1]!.host).toBe("away:2");
    // away answers: its socket stays, pinged once an interval.
    expect(regions.opened[1]!.socket.closed).toBe(false);
    expect(regions.opened[1]!.socket.pings).toBeGreaterThan(0);
    const pingsBefore = regions.opened[1]!.socket.pings;
    await run(clock, 100, 100);
    expect(regions.opened[1]!.socket.closed).toBe(false);
    expect(regions.opened[1]!.socket.pings).toBeGreaterThanOrEqual(pingsBefore + 9);
    expect(regions.opened).toHaveLength(2);
    await sync.close();
    await replica.close();
  });

  it("fails over from a home that swallows the handshake, and keeps probing it without waiting on a probe that never ends", async () => {
    const clock = createManualClock(0);
    const regions = fakeRegions(() => true, (host) => host !== "home:1");
    const replica = await memoryReplica();
    const sync = await connect(replica, {
      regions: ["http://home:1", "http://away:2"], docs: { prefix: "" }, WebSocket: regions.WebSocket,
      clock, random: createSeededRandom(seed), heartbeatMs: 1000, homeRetryMs: 500, backoff: { initialMs: 10, maxMs: 10 },
    });
    await run(clock, 30, 100);
    expect(regions.opened.map((o) => o.host).slice(0, 2)).toEqual(["home:1", "away:2"]);
    expect(regions.opened[0]!.socket.closed).toBe(true);
    expect(sync.status.region).toBe("http://away:2");
    // Home probes: one every homeRetryMs + heartbeatMs (each given up after a heartbeat), not a single one left hanging.
    await run(clock, 100, 100);
    const probes = regions.opened.slice(2).filter((o) => o.host === "home:1");
    expect(probes.length).toBeGreaterThanOrEqual(5);
    expect(probes.slice(0, -1).every((p) => p.socket.closed)).toBe(true);
    expect(sync.status.region).toBe("http://away:2");
    await sync.close();
    await replica.close();
  });
});
