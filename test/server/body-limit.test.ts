/**
 * The body limit on a real socket, where it decides from the request's own
 * headers: a declared Content-Length over the limit is refused before any of
 * the body is sent, bodies within it reach the handler whole, and requests
 * without a body pass. (Chunked bodies: auth-limits.test.ts.)
 */
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer } from "../../src/server/app.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

let replica: Replica;
let server: ServerType;
let port: number;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
  await replica.create("doc", "yjs");
  const app = createServer(replica, { maxBodyBytes: 1024 });
  server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
  await replica.close();
});

describe("body limit on a socket", () => {
  it("refuses a declared Content-Length over the limit with 413 before the body is sent, and changes nothing", async () => {
    const before = (await replica.read("doc")).version;
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/v1/docs/doc/updates", method: "POST", headers: { "content-length": String(10 << 20), "content-type": "application/octet-stream" } }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on("error", reject);
      req.flushHeaders(); // headers only: the answer must come without a byte of the 10 MiB
    });
    expect(status).toBe(413);
    expect(JSON.parse(body)).toMatchObject({ error: { code: "too_large" } });
    expect((await replica.read("doc")).version).toBe(before);
  });

  it("passes a body within the limit to the handler whole, and GETs without a body", async () => {
    const url = `http://127.0.0.1:${port}/v1/docs/doc`;
    const delta = yjsClient(3).insert("x".repeat(900));
    const write = await fetch(`${url}/updates`, { method: "POST", body: delta as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream" } });
    expect(write.status).toBe(200);
    const read = await fetch(url);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { value: { text: string } }).value.text).toBe("x".repeat(900));
  });
});
