/**
 * Tokens, scopes and limits: 401, 403 (scope and prefix), 413 (declared and
 * chunked bodies, on a real socket), 429 on the injected clock, 503 past the
 * concurrency limit; and a tampered gossip frame rejected and counted in /metrics.
 */
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGossip } from "../../src/gossip/gossip.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import type { Transport } from "../../src/gossip/transport.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createServer } from "../../src/server/app.ts";
import { hashToken, type TokenRecord } from "../../src/server/auth.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { backupProvider } from "../../src/server/region-backup.ts";
import { readBackup } from "../../src/storage/backup-reader.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import { memoryReplica, testKey, unclosable, yjsClient } from "../helpers/replicas.ts";
import { poll } from "./processes.ts";

const tokens: TokenRecord[] = [
  { name: "admin", sha256: hashToken("admin-token"), scopes: ["read", "write", "admin"] },
  { name: "reader", sha256: hashToken("read-token"), scopes: ["read"] },
  { name: "team-a", sha256: hashToken("team-a-token"), scopes: ["read", "write"], prefix: "a/" },
];
const as = (token: string, init: RequestInit = {}) => ({ ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } });
const put = (kind: string) => ({ method: "PUT", body: JSON.stringify({ kind }), headers: { "content-type": "application/json" } });
const errorCode = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;

let replica: Replica;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
});
afterEach(async () => replica.close());

describe("authentication and scopes", () => {
  it("answers 401 without a token and with an unknown one", async () => {
    const app = createServer(replica, { tokens });
    const none = await app.request("/v1/docs/x");
    expect(none.status).toBe(401);
    expect(await errorCode(none)).toBe("unauthorized");
    expect((await app.request("/v1/docs/x", as("guess"))).status).toBe(401);
    expect((await app.request("/healthz")).status).toBe(200);
  });

  it("answers 403 outside a token's scope or prefix, and serves what is inside", async () => {
    const app = createServer(replica, { tokens });
    const denied = await app.request("/v1/docs/x", as("read-token", put("yjs")));
    expect(denied.status).toBe(403);
    expect(await errorCode(denied)).toBe("forbidden");
    expect((await app.request("/v1/docs/x", as("admin-token", put("yjs")))).status).toBe(201);
    expect((await app.request("/v1/docs/x", as("read-token"))).status).toBe(200);
    expect((await app.request("/v1/docs/x", as("team-a-token"))).status).toBe(403);
    expect((await app.request("/v1/docs/a%2Fnote", as("team-a-token", put("yjs")))).status).toBe(201);
    expect((await app.request("/v1/docs?prefix=", as("team-a-token"))).status).toBe(403);
    expect(await (await app.request("/v1/docs", as("team-a-token"))).json()).toEqual({ ids: ["a/note"], cursor: null });
  });
});

describe("admin: backup", () => {
  it("streams a whole archive to an admin token only; 404 without a backup source", async () => {
    const store = createMemoryStore();
    const backupReplica = await openReplica({ store: unclosable(store), masterKey: testKey(), region: "test" });
    await backupReplica.create("x", "yjs");
    const backup = backupProvider({ store, masterKey: testKey(), region: "test", clock: createManualClock(1_700_000_000_000), random: createSeededRandom(5) });
    const app = createServer(backupReplica, { tokens, backup });
    expect((await app.request("/v1/admin/backup")).status).toBe(401);
    const denied = await app.request("/v1/admin/backup", as("read-token"));
    expect(denied.status).toBe(403);
    const ok = await app.request("/v1/admin/backup", as("admin-token"));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-disposition")).toMatch(/concord-test-2023-11-14T22-13-20-000Z\.ccbackup/);
    const entries = Number(ok.headers.get("x-concord-backup-entries"));
    const events = [];
    for await (const event of readBackup(ok.body as unknown as AsyncIterable<Uint8Array>, { masterKey: testKey() })) events.push(event);
    expect(events.at(-1)).toEqual({ type: "end", entries });
    expect(entries).toBeGreaterThan(0);
    expect((await createServer(backupReplica, { tokens }).request("/v1/admin/backup", as("admin-token"))).status).toBe(404);
    await backupReplica.close();
  });

  it("holds no snapshot for HEAD, runs at most two backups at once, and drops a stream nobody reads", async () => {
    const store = createMemoryStore();
    let held = 0;
    const counting = {
      ...unclosable(store),
      async snapshot() {
        const snapshot = await store.snapshot();
        held++;
        let released = false;
        const release = () => {
          if (!released) held--;
          released = true;
          snapshot.release();
        };
        return { entries: () => snapshot.entries(), count: () => snapshot.count(), release };
      },
    };
    const backupReplica = await openReplica({ store: unclosable(store), masterKey: testKey(), region: "test" });
    const clock = createManualClock(1_700_000_000_000);
    const backup = backupProvider({ store: counting, masterKey: testKey(), region: "test", clock, random: createSeededRandom(5) });
    const app = createServer(backupReplica, { tokens, backup, clock });
    expect((await app.request("/v1/admin/backup", as("admin-token", { method: "HEAD" }))).status).toBe(200);
    expect(held).toBe(0);

    const first = await app.request("/v1/admin/backup", as("admin-token"));
    const second = await app.request("/v1/admin/backup", as("admin-token"));
    expect(held).toBe(2);
    const third = await app.request("/v1/admin/backup", as("admin-token"));
    expect(third.status).toBe(503);
    expect(held).toBe(2);
    // The first is read to its end; the second is never read and times out.
    await first.arrayBuffer();
    expect(held).toBe(1);
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(held).toBe(0);
    await expect(second.arrayBuffer()).rejects.toThrow();
    expect((await app.request("/v1/admin/backup", as("admin-token"))).status).toBe(200);
    await backupReplica.close();
  });
});

describe("limits", () => {
  it("answers 413 for a body over maxBodyBytes, and changes nothing", async () => {
    const app = createServer(replica, { maxBodyBytes: 1024 });
    await app.request("/v1/docs/big", put("yjs"));
    const r = await app.request("/v1/docs/big/updates", { method: "POST", body: new Uint8Array(2048).fill(1) });
    expect(r.status).toBe(413);
    expect(await errorCode(r)).toBe("too_large");
    expect(((await (await app.request("/v1/docs/big")).json()) as { value: unknown }).value).toEqual({});
  });

  it("answers 413 for a chunked body with no Content-Length on a real socket", async () => {
    const app = createServer(replica, { maxBodyBytes: 1024 });
    await app.request("/v1/docs/big", put("yjs"));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port, path: "/v1/docs/big/updates", method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        // Chunks well past the limit; the server answers before the body ends.
        for (let i = 0; i < 8; i++) req.write(Buffer.alloc(512, 1));
        req.end();
      });
      expect(status).toBe(413);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("answers 429 with Retry-After once a token's bucket is empty, and refills with time", async () => {
    const clock = createManualClock(0);
    const app = createServer(replica, { tokens, clock, rateLimit: { requestsPerSecond: 2, burst: 3 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await app.request("/v1/docs?limit=1", as("admin-token"))).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await app.request("/v1/docs", as("admin-token"));
    expect(await errorCode(limited)).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await app.request("/v1/docs", as("read-token"))).status).toBe(200); // another token has its own bucket
    clock.advance(500);
    expect((await app.request("/v1/docs", as("admin-token"))).status).toBe(200);
  });

  it("answers 503 unavailable past maxConcurrentRequests", async () => {
    const app = createServer(replica, { maxConcurrentRequests: 1, maxWaitMs: 60_000 });
    await app.request("/v1/docs/w", put("yjs"));
    const slow = app.request("/v1/docs/w/events"); // an event stream holds its slot until its response starts
    const results = await Promise.all([slow, app.request("/v1/docs/w")]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 503]);
    await results[0]!.body?.cancel();
  });
});

describe("per-token concurrency", () => {
  it("keeps another token's requests served while one token holds many slow requests, answering that token 429 past its cap", async () => {
    const app = createServer(replica, { tokens, maxConcurrentRequests: 8, maxConcurrentPerToken: 2, maxWaitMs: 60_000 });
    expect((await app.request("/v1/docs/slow", as("admin-token", put("yjs")))).status).toBe(201);
    // Eight uploads from one token whose bodies never end until released.
    const bodies: Array<ReadableStreamDefaultController<Uint8Array>> = [];
    const answered: Response[] = [];
    const held = Array.from({ length: 8 }, () => {
      const body = new ReadableStream<Uint8Array>({ start: (controller) => void bodies.push(controller) });
      const init = as("admin-token", { method: "POST", body, headers: { "content-type": "application/octet-stream" }, duplex: "half" } as RequestInit);
      return Promise.resolve(app.request("/v1/docs/slow/updates", init)).then((r) => (answered.push(r), r));
    });
    // Past its cap of 2 the token is refused at once; without a per-token cap all 8 would hold global slots and nothing answers.
    await poll("the token's requests past its cap answered", async () => (answered.length >= 6 ? true : undefined), 10_000).catch(() => undefined);
    const others = await Promise.all(Array.from({ length: 2 }, () => app.request("/v1/docs/slow", as("read-token"))));
    expect(others.map((r) => r.status)).toEqual([200, 200]);
    expect(answered.map((r) => r.status)).toEqual([429, 429, 429, 429, 429, 429]);
    expect(await errorCode(answered[0]!)).toBe("rate_limited");
    expect(answered[0]!.headers.get("retry-after")).toBe("1");
    for (const controller of bodies) {
      controller.enqueue(yjsClient(3).insert("x"));
      controller.close();
    }
    expect((await Promise.all(held)).map((r) => r.status).sort()).toEqual([200, 200, 429, 429, 429, 429, 429, 429]);
  });
});

describe("gossip endpoint", () => {
  it("rejects a tampered frame with 400, changes nothing, and counts it in /metrics", async () => {
    const random = createSeededRandom(5);
    const [pa, pb] = [generateRegionKeyPair(random), generateRegionKeyPair(random)];
    const other = await memoryReplica({ region: "b" });
    const clock = createManualClock(1_700_000_000_000);
    const here = createGossip({ replica, transport: { send: async () => new Uint8Array(0), serve: () => {} }, clock, random, self: "a", keyPair: pa, peers: new Map([["b", pb.publicKey]]) });
    await here.start();
    const app = createServer(replica, { gossip: here });
    let tamper = true;
    const statuses: number[] = [];
    const transport: Transport = {
      async send(_peer, frame) {
        const body = Uint8Array.from(frame);
        if (tamper) body[body.length - 3]! ^= 0x40;
        const r = await app.request("/internal/gossip", { method: "POST", body });
        statuses.push(r.status);
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return new Uint8Array(await r.arrayBuffer());
      },
      serve() {},
    };
    const there = createGossip({ replica: other, transport, clock, random, self: "b", keyPair: pb, peers: new Map([["a", pa.publicKey]]) });
    await there.start();
    try {
      await other.create("doc", "yjs");
      await expect(there.antiEntropy("a")).rejects.toThrow();
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.every((s) => s === 400)).toBe(true);
      expect(await replica.status("doc")).toEqual({ state: "absent" });
      const metrics = await (await app.request("/metrics")).text();
      expect(metrics).toMatch(/concord_frames_rejected_total\{peer="b",reason="[a-z_]+",region="test"\} [1-9]/);
      tamper = false;
      await there.antiEntropy("a");
      expect((await replica.status("doc")).state).toBe("present");
      const after = await (await app.request("/metrics")).text();
      expect(after).toMatch(/concord_antientropy_docs_skipped_total\{region="test"\} 0/);
      expect(after).toMatch(/concord_documents\{region="test"\} 1/);
      expect(after).toMatch(/concord_peer\{peer="b",stat="antiEntropyRounds",region="test"\} \d/);
    } finally {
      here.stop();
      there.stop();
      await other.close();
    }
  });
});
