/**
 * The multi-document change feed (/v1/events): one stream for a prefix or a
 * list of ids, with the read rules of the rest of the API, bounded in ids and
 * in what it holds for a client that stops reading.
 */
import { getEventListeners } from "node:events";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer, type ConcordApp } from "../../src/server/app.ts";
import { hashToken, type TokenRecord } from "../../src/server/auth.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";
import { poll } from "./processes.ts";

const tokens: TokenRecord[] = [
  { name: "admin", sha256: hashToken("admin-token"), scopes: ["read", "write", "admin"] },
  { name: "writer", sha256: hashToken("write-token"), scopes: ["write"] },
  { name: "team-a", sha256: hashToken("team-a-token"), scopes: ["read", "write"], prefix: "a/" },
];
const as = (token: string, init: RequestInit = {}) => ({ ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } });
const errorCode = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads events off an SSE response, in order; `next()` waits for the next one. */
function events(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    async next(): Promise<SseEvent> {
      for (;;) {
        const end = text.indexOf("\n\n");
        if (end >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          if (block.startsWith(":")) continue; // keep-alive
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
          const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null") as Record<string, unknown>;
          return { event, data };
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended; left: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    },
    close: () => reader.cancel().catch(() => undefined),
  };
}

let replica: Replica;
let app: ConcordApp;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
  app = createServer(replica, { tokens, maxFeedIds: 3 });
});
afterEach(async () => replica.close());

describe("multi-document change feed", () => {
  it("streams the changes and deletions of every document under a prefix, in order, and nothing else", async () => {
    await replica.create("a/1", "yjs");
    await replica.create("b/1", "yjs");
    const feed = events(await app.request("/v1/events?prefix=a/", as("admin-token")));
    expect(await feed.next()).toEqual({ event: "ready", data: { prefix: "a/", docs: [] } });
    const client = yjsClient(5);
    await replica.update("b/1", client.insert("not this one"));
    await replica.update("a/1", yjsClient(6).insert("hello"));
    await replica.create("a/2", "automerge");
    await replica.delete("a/1");
    const first = await feed.next();
    expect(first).toMatchObject({ event: "change", data: { id: "a/1", origin: "local" } });
    expect((await replica.read("a/2")).kind).toBe("automerge");
    expect(await feed.next()).toMatchObject({ event: "change", data: { id: "a/2" } });
    expect(await feed.next()).toEqual({ event: "delete", data: { id: "a/1", origin: "local" } });
    // The change carries the delta itself: a client can apply it to its own copy.
    const delta = Buffer.from(first.data.delta as string, "base64");
    expect(delta.length).toBeGreaterThan(0);
    await feed.close();
  });

  it("follows a list of ids (GET ?id= or POST), starting from each one's version or state", async () => {
    await replica.create("x", "yjs");
    await replica.create("gone", "yjs");
    await replica.delete("gone");
    const { version } = await replica.read("x");
    const get = events(await app.request("/v1/events?id=x&id=gone&id=later", as("admin-token")));
    expect(await get.next()).toEqual({
      event: "ready",
      data: { docs: [{ id: "x", kind: "yjs", version }, { id: "gone", state: "deleted" }, { id: "later", state: "absent" }] },
    });
    const post = events(await app.request("/v1/events", as("admin-token", { method: "POST", body: JSON.stringify({ ids: ["later"] }), headers: { "content-type": "application/json" } })));
    expect((await post.next()).event).toBe("ready");
    await replica.create("other", "yjs");
    await replica.update("x", yjsClient(8).insert("x1"));
    await replica.create("later", "yjs");
    expect(await get.next()).toMatchObject({ event: "change", data: { id: "x" } });
    expect(await get.next()).toMatchObject({ event: "change", data: { id: "later" } });
    expect(await post.next()).toMatchObject({ event: "change", data: { id: "later" } });
    await Promise.all([get.close(), post.close()]);
  });

  it("applies the read rules: 401 without a token, 403 without the read scope or outside the token's prefix, 413 past maxFeedIds, 400 for a bad body", async () => {
    expect((await app.request("/v1/events?prefix=a/")).status).toBe(401);
    const noRead = await app.request("/v1/events?prefix=a/", as("write-token"));
    expect([noRead.status, await errorCode(noRead)]).toEqual([403, "forbidden"]);
    expect((await app.request("/v1/events?prefix=b/", as("team-a-token"))).status).toBe(403);
    expect((await app.request("/v1/events", as("team-a-token", { method: "POST", body: JSON.stringify({ ids: ["a/1", "b/1"] }) }))).status).toBe(403);
    const tooMany = await app.request("/v1/events?id=1&id=2&id=3&id=4", as("admin-token"));
    expect([tooMany.status, await errorCode(tooMany)]).toEqual([413, "too_large"]);
    const bad = await app.request("/v1/events", as("admin-token", { method: "POST", body: JSON.stringify({ ids: "x" }) }));
    expect([bad.status, await errorCode(bad)]).toEqual([400, "invalid_argument"]);
    // Without a prefix or ids, a prefixed token follows its own prefix.
    const own = events(await app.request("/v1/events", as("team-a-token")));
    expect(await own.next()).toEqual({ event: "ready", data: { prefix: "a/", docs: [] } });
    await replica.create("b/1", "yjs");
    await replica.create("a/1", "yjs");
    expect(await own.next()).toMatchObject({ event: "change", data: { id: "a/1" } });
    await own.close();
  });

  it("disconnects a client that stops reading once maxEventQueueBytes wait for it, and lets go of the stream", async () => {
    const shutdown = new AbortController();
    const small = createServer(replica, { shutdown: shutdown.signal, maxEventQueueBytes: 64 << 10 });
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: small.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await replica.create("big", "yjs");
      const before = getEventListeners(shutdown.signal, "abort").length;
      const response = await fetch(`${url}/v1/events?id=big`);
      const feed = events(response);
      expect((await feed.next()).event).toBe("ready");
      expect(getEventListeners(shutdown.signal, "abort").length).toBe(before + 1);
      // The client reads no more; the socket buffers fill, then the server's queue.
      const client = yjsClient(9);
      const chunk = "x".repeat(32 << 10);
      await poll("the server to drop the stream", async () => {
        await replica.update("big", client.insert(chunk));
        return getEventListeners(shutdown.signal, "abort").length === before ? true : undefined;
      });
      await feed.close();
    } finally {
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
