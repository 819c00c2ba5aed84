/**
 * Fixed-size ETags and conditional writes over real HTTP (a server on
 * 127.0.0.1, port 0): If-Match on POST updates / PATCH / DELETE answers 412
 * with the current ETag and changes nothing when the version moved, applies
 * when it is current, and lets exactly one of two racing writes with one ETag
 * through; the ETag keeps its length as the document grows; `?since=` takes
 * the short ETag; the long form ETags had before still works.
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import * as Y from "yjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer } from "../../src/server/app.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

let replica: Replica;
let server: ServerType;
let url: string;

beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
  server = serve({ fetch: createServer(replica).fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/docs`;
  expect((await jsonRequest("PUT", "/doc", { kind: "yjs" })).status).toBe(201);
  expect((await patch("first")).status).toBe(200);
});
afterEach(async () => {
  (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
  await replica.close();
});

function jsonRequest(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, { method, body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });
}

const patch = (title: string, headers: Record<string, string> = {}) =>
  jsonRequest("PATCH", "/doc", { ops: [{ op: "set", path: ["meta", "title"], value: title }] }, headers);

const post = (delta: Uint8Array, headers: Record<string, string> = {}) =>
  fetch(`${url}/doc/updates`, { method: "POST", body: delta as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream", ...headers } });

async function read(path = "/doc"): Promise<{ etag: string; body: { version: string; etag: string; value: { meta: { title: string }; text?: string } } }> {
  const r = await fetch(`${url}${path}`);
  expect(r.status).toBe(200);
  return { etag: r.headers.get("etag")!, body: (await r.json()) as never };
}

type ErrorBody = { error: { code: string; message: string; etag?: string } };

describe("conditional writes over HTTP (If-Match)", () => {
  it("answers 412 with the current ETag to a stale If-Match on PATCH, POST and DELETE, and changes nothing", async () => {
    const stale = await read();
    expect((await patch("second")).status).toBe(200);
    const now = await read();
    const client = yjsClient(31);
    const attempts = [
      () => patch("lost", { "if-match": stale.etag }),
      () => post(client.insert("lost"), { "if-match": stale.etag }),
      () => fetch(`${url}/doc`, { method: "DELETE", headers: { "if-match": stale.etag } }),
      () => patch("lost", { "if-match": `"${stale.body.version}"` }), // the long form
    ];
    for (const attempt of attempts) {
      const r = await attempt();
      expect(r.status).toBe(412);
      expect(r.headers.get("etag")).toBe(now.etag);
      const body = (await r.json()) as ErrorBody;
      expect(body.error.code).toBe("precondition_failed");
      expect(`"${body.error.etag}"`).toBe(now.etag);
      expect(body.error.message).toContain(now.body.etag);
    }
    expect(await read()).toEqual(now);
  });

  it("applies a write whose If-Match is current and returns the next ETag", async () => {
    const at = await read();
    const r = await patch("second", { "if-match": at.etag });
    expect(r.status).toBe(200);
    const ack = (await r.json()) as { etag: string; version: string; changed: boolean };
    expect(ack.changed).toBe(true);
    expect(r.headers.get("etag")).toBe(`"${ack.etag}"`);
    const now = await read();
    expect(now.etag).toBe(`"${ack.etag}"`);
    expect(now.body.value.meta.title).toBe("second");
    // A binary update conditional on the ack's ETag (as a weakened tag, as a compressing proxy would pass it on).
    const client = yjsClient(32);
    Y.applyUpdate(client.doc, await replica.encodeState("doc"));
    const posted = await post(client.insert("hi"), { "if-match": `W/${now.etag}` });
    expect(posted.status).toBe(200);
    const after = await read();
    expect(after.body.value.text).toBe("hi");
    // `*` requires only that the document exists.
    expect((await patch("third", { "if-match": "*" })).status).toBe(200);
    const last = await read();
    expect((await fetch(`${url}/doc`, { method: "DELETE", headers: { "if-match": last.etag } })).status).toBe(204);
    expect((await fetch(`${url}/doc`)).status).toBe(410);
  });

  it("lets exactly one of two concurrent writes with the same If-Match through", async () => {
    const at = await read();
    const client = yjsClient(33);
    const responses = await Promise.all([
      patch("by patch", { "if-match": at.etag }),
      post(client.set("title", "by update", "meta"), { "if-match": at.etag }),
    ]);
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 412]);
    const winner = responses.find((r) => r.status === 200)!;
    const ack = (await winner.json()) as { etag: string };
    const now = await read();
    expect(now.etag).toBe(`"${ack.etag}"`);
    expect(now.body.value.meta.title).toBe(winner === responses[0] ? "by patch" : "by update");
  });

  it("refuses an If-Match that names nothing with 400, changing nothing", async () => {
    const before = await read();
    for (const header of ['"not a version!"', ",", '"v1.short"']) {
      const r = await patch("x", { "if-match": header });
      expect(r.status).toBe(400);
      expect(((await r.json()) as ErrorBody).error.code).toBe("invalid_argument");
    }
    expect(await read()).toEqual(before);
  });
});

describe("fixed-size ETags", () => {
  it("keeps the ETag the same length while the version grows with edits", async () => {
    const first = await read();
    const lengths = new Set<number>();
    for (let i = 0; i < 40; i++) {
      // Insert and delete text: each PATCH grows the delete set, so the version grows.
      expect((await jsonRequest("PATCH", "/doc", { ops: [{ op: "insertText", path: ["text"], index: 0, text: `edit ${i} ` }] })).status).toBe(200);
      expect((await jsonRequest("PATCH", "/doc", { ops: [{ op: "deleteText", path: ["text"], index: 0, length: 2 }] })).status).toBe(200);
      lengths.add((await read()).etag.length);
    }
    const last = await read();
    expect(last.body.version.length).toBeGreaterThan(3 * first.body.version.length);
    expect([...lengths]).toEqual([first.etag.length]);
    expect(first.etag).toMatch(/^"v1\.[A-Za-z0-9_-]{22}"$/);
    const full = await fetch(`${url}/doc?format=update`);
    expect(full.headers.get("etag")).toBe(`"${last.body.etag}.update"`);
    await full.arrayBuffer();
  });

  it("serves ?since= the short ETag as the diff from that version, and 304s on either form", async () => {
    const client = yjsClient(34);
    Y.applyUpdate(client.doc, await replica.encodeState("doc"));
    expect((await post(client.insert("hello"))).status).toBe(200);
    const then = await read();
    const copy = new Y.Doc();
    Y.applyUpdate(copy, new Uint8Array(await (await fetch(`${url}/doc?format=update`)).arrayBuffer()));
    expect((await post(client.insert(" world"))).status).toBe(200);
    const diff = await fetch(`${url}/doc?since=${then.body.etag}`);
    expect(diff.status).toBe(200);
    const bytes = new Uint8Array(await diff.arrayBuffer());
    Y.applyUpdate(copy, bytes);
    expect(copy.getText("text").toString()).toBe("hello world");
    // The long form is still a valid ?since, and gives the same content.
    const longForm = new Uint8Array(await (await fetch(`${url}/doc?since=${then.body.version}`)).arrayBuffer());
    expect(longForm).toEqual(bytes);
    const now = await read();
    expect((await fetch(`${url}/doc`, { headers: { "if-none-match": now.etag } })).status).toBe(304);
    expect((await fetch(`${url}/doc`, { headers: { "if-none-match": `"${now.body.version}"` } })).status).toBe(304);
    expect((await fetch(`${url}/doc`, { headers: { "if-none-match": then.etag } })).status).toBe(200);
  });
});
