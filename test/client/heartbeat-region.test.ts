/**
 * The heartbeat against a real region (in this process, short intervals): a
 * client behind a proxy that goes silent (no FIN either way) notices within
 * its bound and fails over; the region notices too and lets the socket go;
 * a raw client that stops reading is terminated, one that reads is kept.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { encodeFrame } from "../../src/client/protocol.ts";
import { hashToken } from "../../src/server/auth.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { tempDir } from "../helpers/replicas.ts";
import { poll, writeTopology } from "../server/processes.ts";
import { startStallProxy } from "./stall-proxy.ts";
import { connectNode, nextEvent, openDevice, valueUntil } from "./sync-helpers.ts";

const token = "tok-heartbeat-0123456789";
// Short enough for a quick test, long enough that a loaded machine's event-loop stalls do not look like silence.
const pingMs = 300;

let dir: Awaited<ReturnType<typeof tempDir>>;
let region: RunningRegion;

beforeAll(async () => {
  dir = await tempDir("concord-heartbeat-");
  const { file } = await writeTopology(dir.path, ["solo"]);
  const { topology } = await initTopologyKeys(await readTopologyFile(file), dir.path);
  region = await startRegion({
    topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0, sync: { pingMs },
    server: { tokens: [{ name: "full", sha256: hashToken(token), scopes: ["read", "write"] }] },
  });
}, 120_000);

afterAll(async () => {
  await region?.stop();
  await dir?.remove();
});

async function openRaw(): Promise<WebSocket> {
  const ws = new WebSocket(`${region.url.replace("http", "ws")}/v1/sync?token=${token}`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return ws;
}

describe("sync heartbeat against a region", () => {
  it("fails a client over when its region goes silent without closing, and the region drops that socket", async () => {
    const proxy = await startStallProxy(region.url);
    const device = await openDevice(31);
    const sync = await connectNode(device.replica, { regions: [proxy.url, region.url], token, docs: { prefix: "hb/" }, heartbeatMs: pingMs });
    try {
      await sync.synced();
      expect(sync.status.region).toBe(proxy.url);
      const offline = nextEvent(sync, "offline");
      const failedOver = nextEvent(sync, "failed-over");
      proxy.stall();
      expect((await offline).reason).toContain("heartbeat");
      expect(await failedOver).toEqual({ from: proxy.url, to: region.url });
      // The region let the silent socket go (its pings went unanswered): only the new one is open.
      await poll("the region to drop the silent socket", async () => (region.sockets.open === 1 ? true : undefined));
      // And the client syncs over the new socket.
      await device.replica.create("hb/doc", "yjs");
      await device.replica.patch("hb/doc", [{ op: "set", path: ["m", "k"], value: 1 }]);
      await valueUntil(region.replica, "hb/doc", (v) => (v as { m?: { k?: number } }).m?.k === 1);
    } finally {
      await sync.close();
      await device.replica.close();
      await proxy.close();
    }
  });

  it("terminates a raw client that stops reading and keeps one that answers pings", async () => {
    const live = await openRaw();
    const silent = await openRaw();
    let pings = 0;
    live.on("ping", () => pings++);
    const hello = encodeFrame({ t: "hello", docs: { prefix: "none/" }, digest: "0" });
    live.send(hello);
    silent.send(hello);
    await poll("both sockets open", async () => (region.sockets.open >= 2 ? true : undefined));
    const before = region.sockets.open;
    silent.pause(); // reads nothing more: ping frames go unanswered
    await poll("the region to drop the silent socket", async () => (region.sockets.open === before - 1 ? true : undefined));
    // The live one has seen several pings since, and is still open.
    const seen = pings;
    await poll("more pings to the live socket", async () => (pings >= seen + 3 ? true : undefined));
    expect(live.readyState).toBe(WebSocket.OPEN);
    live.close();
    silent.terminate();
  });

  it("answers a client's ping with a pong", async () => {
    const ws = await openRaw();
    const pong = new Promise<Buffer>((resolve) => ws.once("message", (data: Buffer) => resolve(data)));
    ws.send(encodeFrame({ t: "ping" }));
    expect(Buffer.from(await pong).equals(Buffer.from(encodeFrame({ t: "pong" })))).toBe(true);
    ws.close();
  });
});
