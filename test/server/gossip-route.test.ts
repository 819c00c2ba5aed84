/**
 * The gossip endpoint under abuse: bodies refused before gossip sees them
 * (over the size limit) are still counted as refused frames, so /metrics
 * shows them; on a real socket, a non-peer's large slow bodies are refused
 * from their first bytes while still arriving (never buffered), and bodies
 * claiming a real peer are read only a few at a time.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sealFrame } from "../../src/gossip/frame.ts";
import { createGossip, type Gossip } from "../../src/gossip/gossip.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createServer } from "../../src/server/app.ts";
import { memoryReplica } from "../helpers/replicas.ts";
import { poll } from "./processes.ts";

let replica: Replica;
let gossip: Gossip;
beforeEach(async () => {
  replica = await memoryReplica({ region: "west" });
  const random = createSeededRandom(11);
  const [east, west] = [generateRegionKeyPair(random), generateRegionKeyPair(random)];
  gossip = createGossip({ replica, transport: { send: async () => new Uint8Array(0), serve: () => {} }, clock: createManualClock(0), random, self: "west", keyPair: west, peers: new Map([["east", east.publicKey]]) });
  await gossip.start();
});
afterEach(async () => {
  gossip.stop();
  await replica.close();
});

describe("gossip endpoint limits", () => {
  it("counts a body refused by the size limit as an oversized frame, in the stats and in /metrics", async () => {
    const app = createServer(replica, { gossip, maxFrameBytes: 1024 });
    const r = await app.request("/internal/gossip", { method: "POST", body: new Uint8Array(4096), headers: { "content-type": "application/octet-stream" } });
    expect(r.status).toBe(413);
    expect(gossip.stats().framesRejectedUnknown).toEqual({ oversized: 1 });
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toMatch(/concord_frames_rejected_total\{peer="unknown",reason="oversized",region="west"\} 1/);
  });
});

/** A POST to /internal/gossip that sends `first` and then holds its (chunked) body open until `end()`. */
function slowBody(port: number, first: Uint8Array): { response: Promise<IncomingMessage>; request: ClientRequest } {
  const request = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/internal/gossip", headers: { "content-type": "application/octet-stream", "transfer-encoding": "chunked" } });
  request.on("error", () => undefined); // the server may drop a refused body's socket
  const response = new Promise<IncomingMessage>((resolve) => request.once("response", resolve));
  request.write(first);
  return { response, request };
}

/** The first 1 KiB of a 16 MiB frame from `sender` (sealed under a key that is not the pair key: a forgery). */
function forgedStart(sender: string): Uint8Array {
  const frame = sealFrame({ version: 1, kind: "request", sender, receiver: "west", counter: 1n << 40n, replyTo: 0n }, new Uint8Array(16 << 20), new Uint8Array(32), createSeededRandom(3));
  return frame.slice(0, 1024);
}

describe("gossip endpoint on a real socket", () => {
  let server: ServerType;
  let port: number;
  const open: ClientRequest[] = [];
  const listen = async (options: Parameters<typeof createServer>[1]) => {
    const app = createServer(replica, { gossip, ...options });
    ({ server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve({ server: s, port: info.port }));
    }));
  };
  afterEach(async () => {
    for (const request of open.splice(0)) request.destroy();
    (server as { closeAllConnections?: () => void } | undefined)?.closeAllConnections?.();
    if (server) await new Promise((resolve) => server.close(resolve));
  });

  it("refuses 40 concurrent large slow bodies from a non-peer by their header, while their bodies are still arriving", async () => {
    await listen({ maxGossipInFlight: 64 }); // the total cap is tested below: here every body must reach the header check
    const start = forgedStart("mallory");
    const bodies = Array.from({ length: 40 }, () => slowBody(port, start));
    open.push(...bodies.map((b) => b.request));
    // Answered before the rest of each 16 MiB body was sent: the server read only the first bytes of each.
    const statuses = await Promise.all(bodies.map(async (b) => (await b.response).statusCode));
    expect(statuses).toEqual(Array(40).fill(400));
    expect(gossip.stats().framesRejectedUnknown).toEqual({ unknown_sender: 40 });
  });

  it("reads at most maxGossipPerSender bodies at once from one claimed peer, refusing the rest with 429 before reading them", async () => {
    await listen({ maxGossipPerSender: 4 });
    const start = forgedStart("east");
    const bodies = Array.from({ length: 10 }, () => slowBody(port, start));
    open.push(...bodies.map((b) => b.request));
    const answered: number[] = [];
    for (const b of bodies) void b.response.then((r) => answered.push(r.statusCode!));
    await poll("six bodies refused while arriving", async () => (answered.length >= 6 ? true : undefined), 15_000);
    expect(answered).toEqual(Array(6).fill(429));
    const peers = (gossip.stats() as { peers: Record<string, { framesRejected?: Record<string, number> }> }).peers;
    expect(peers.east!.framesRejected).toMatchObject({ busy: 6 });
    // The four being read fail their MAC once complete; nothing else was refused.
    for (const b of bodies) b.request.end();
    const statuses = await Promise.all(bodies.map(async (b) => (await b.response).statusCode));
    expect(statuses.filter((s) => s === 400).length).toBe(4);
  });

  it("reads at most maxGossipInFlight bodies at once in all, whoever claims to send them", async () => {
    await listen({ maxGossipPerSender: 8, maxGossipInFlight: 3 });
    const bodies = Array.from({ length: 5 }, () => slowBody(port, forgedStart("east")));
    open.push(...bodies.map((b) => b.request));
    const answered: number[] = [];
    for (const b of bodies) void b.response.then((r) => answered.push(r.statusCode!));
    await poll("two bodies refused while arriving", async () => (answered.length >= 2 ? true : undefined), 15_000);
    expect(answered).toEqual([429, 429]);
    expect(gossip.stats().framesRejectedUnknown).toMatchObject({ busy: 2 });
  });

  it("refuses a declared size over the frame limit with 413 before reading the body, counted as oversized", async () => {
    await listen({ maxFrameBytes: 1 << 20 });
    const request = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/internal/gossip", headers: { "content-type": "application/octet-stream", "content-length": String(64 << 20) } });
    request.on("error", () => undefined);
    open.push(request);
    const response = new Promise<IncomingMessage>((resolve) => request.once("response", resolve));
    request.write(forgedStart("east"));
    expect((await response).statusCode).toBe(413);
    expect(gossip.stats().framesRejectedUnknown).toEqual({ oversized: 1 });
  });
});
