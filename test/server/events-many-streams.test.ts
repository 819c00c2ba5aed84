/**
 * Issue 10, finding 12, as the probe (test/probe/f12-sse-leak.ts) still saw
 * it: with more than ten event streams open at once, Node warned
 * "MaxListenersExceededWarning: Possible EventTarget memory leak detected" on
 * the server's shutdown signal, though each stream's listener is removed when
 * it ends (events-listeners.test.ts). Many open streams are not a leak: no
 * warning, and shutting down still ends every one of them.
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "../../src/server/app.ts";
import { memoryReplica } from "../helpers/replicas.ts";

const warnings: Error[] = [];
const onWarning = (warning: Error) => void warnings.push(warning);
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  process.off("warning", onWarning);
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe("many event streams at once", () => {
  it("opens 25 streams on one server without a MaxListenersExceededWarning, and shutdown ends them all", async () => {
    process.on("warning", onWarning);
    const replica = await memoryReplica({ region: "test" });
    const shutdown = new AbortController();
    const app = createServer(replica, { shutdown: shutdown.signal });
    const { server, url } = await new Promise<{ server: ServerType; url: string }>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve({ server: s, url: `http://127.0.0.1:${info.port}` }));
    });
    cleanups.push(async () => {
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
      await replica.close();
    });
    expect((await fetch(`${url}/v1/docs/s`, { method: "PUT", body: '{"kind":"yjs"}', headers: { "content-type": "application/json" } })).status).toBe(201);
    const streams = await Promise.all(Array.from({ length: 25 }, () => fetch(`${url}/v1/docs/s/events`)));
    expect(streams.map((r) => r.status)).toEqual(Array(25).fill(200));
    // Each stream is open once its first event arrived.
    const readers = streams.map((r) => r.body!.getReader());
    await Promise.all(readers.map((reader) => reader.read()));
    shutdown.abort();
    const ends = await Promise.all(readers.map(async (reader) => {
      for (;;) if ((await reader.read()).done) return true;
    }));
    expect(ends).toEqual(Array(25).fill(true));
    // Warnings are emitted on a later tick: give them one before judging.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message)).toEqual([]);
  });
});
