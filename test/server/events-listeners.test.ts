/**
 * Event streams on a real socket: each GET /v1/docs/:id/events watches the
 * server's shutdown signal, and must stop watching when its client goes away,
 * or every subscription ever made stays attached to the signal.
 */
import { getEventListeners } from "node:events";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer } from "../../src/server/app.ts";
import { memoryReplica } from "../helpers/replicas.ts";
import { poll } from "./processes.ts";

let replica: Replica;
let server: ServerType;
let url: string;
const shutdown = new AbortController();
const warnings: Error[] = [];
const onWarning = (warning: Error) => void warnings.push(warning);

beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
  const app = createServer(replica, { shutdown: shutdown.signal });
  ({ server, url } = await new Promise<{ server: ServerType; url: string }>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve({ server: s, url: `http://127.0.0.1:${info.port}` }));
  }));
  process.on("warning", onWarning);
});

afterEach(async () => {
  process.off("warning", onWarning);
  (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
  await replica.close();
});

/** Opens an event stream, reads until its `ready` event, then disconnects. */
async function subscribeAndLeave(id: string): Promise<void> {
  const client = new AbortController();
  const r = await fetch(`${url}/v1/docs/${id}/events`, { signal: client.signal });
  expect(r.status).toBe(200);
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("event: ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ready: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  client.abort();
  await reader.cancel().catch(() => undefined);
}

describe("event stream listeners", () => {
  it("removes its shutdown listener when a client disconnects, so 30 subscribe/disconnect cycles leave the signal as they found it", async () => {
    expect((await fetch(`${url}/v1/docs/live`, { method: "PUT", body: JSON.stringify({ kind: "yjs" }), headers: { "content-type": "application/json" } })).status).toBe(201);
    const before = getEventListeners(shutdown.signal, "abort").length;
    for (let i = 0; i < 30; i++) await subscribeAndLeave("live");
    // The server notices each disconnect asynchronously: wait for it, with a generous deadline.
    await poll("every stream's shutdown listener removed", async () => (getEventListeners(shutdown.signal, "abort").length === before ? true : undefined));
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
  });
});
