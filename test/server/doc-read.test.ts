/**
 * GET /v1/docs/:id renders only what it sends: a 304 and the binary formats
 * build no JSON view, a version already rendered is served from the view
 * cache, and a cached rendering never outlives its version (a write, a
 * replicated write or a deletion is seen at once).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer, type ConcordApp } from "../../src/server/app.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

let replica: Replica;
let app: ConcordApp;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
  app = createServer(replica);
  await replica.create("d", "yjs");
  await replica.patch("d", [{ op: "set", path: ["meta", "title"], value: "first" }]);
});
afterEach(async () => replica.close());

const getJson = async (path: string, headers: Record<string, string> = {}) => {
  const r = await app.request(path, { headers });
  return { status: r.status, etag: r.headers.get("etag"), body: r.status === 200 ? ((await r.json()) as { version: string; etag: string; value: { meta?: { title?: string } } }) : undefined };
};

describe("GET a document", () => {
  it("answers a matching If-None-Match with 304 without rendering the document", async () => {
    const first = await getJson("/v1/docs/d");
    const read = vi.spyOn(replica, "read");
    const r = await app.request("/v1/docs/d", { headers: { "if-none-match": first.etag! } });
    expect(r.status).toBe(304);
    expect(r.headers.get("etag")).toBe(first.etag);
    expect(r.headers.get("cache-control")).toBe("no-cache");
    expect(read).not.toHaveBeenCalled();
  });

  it("sends ?format=update and ?since without rendering the JSON view, with the version and kind in headers", async () => {
    const { body } = await getJson("/v1/docs/d");
    const read = vi.spyOn(replica, "read");
    const full = await app.request("/v1/docs/d?format=update");
    expect(full.status).toBe(200);
    expect(full.headers.get("x-concord-version")).toBe(body!.version);
    expect(full.headers.get("x-concord-kind")).toBe("yjs");
    expect(full.headers.get("etag")).toBe(`"${body!.etag}.update"`);
    const diff = await app.request(`/v1/docs/d?since=${body!.version}`);
    expect(diff.headers.get("etag")).toBe(`"${body!.etag}.diff"`);
    expect(read).not.toHaveBeenCalled();
  });

  it("encodes the whole state of a version once, and again after a write", async () => {
    const first = new Uint8Array(await (await app.request("/v1/docs/d?format=update")).arrayBuffer());
    const encode = vi.spyOn(replica, "encodeState");
    expect(new Uint8Array(await (await app.request("/v1/docs/d?format=update")).arrayBuffer())).toEqual(first);
    expect(encode).not.toHaveBeenCalled();
    await replica.patch("d", [{ op: "set", path: ["meta", "title"], value: "second" }]);
    const next = await app.request("/v1/docs/d?format=update");
    expect(next.headers.get("x-concord-version")).toBe((await replica.read("d")).version);
    expect(encode).toHaveBeenCalledTimes(1);
    expect(new Uint8Array(await next.arrayBuffer())).toEqual(await replica.encodeState("d"));
  });

  it("renders a version once and serves it again from the cache, byte for byte", async () => {
    const first = await app.request("/v1/docs/d");
    const text = await first.text();
    const read = vi.spyOn(replica, "read");
    const again = await app.request("/v1/docs/d");
    expect(await again.text()).toBe(text);
    expect(again.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(again.headers.get("content-type")).toMatch(/^application\/json/);
    expect(read).not.toHaveBeenCalled();
  });

  it("never serves a cached rendering after the document changed, by any path", async () => {
    const before = await getJson("/v1/docs/d");
    await replica.patch("d", [{ op: "set", path: ["meta", "title"], value: "second" }]);
    const afterPatch = await getJson("/v1/docs/d");
    expect(afterPatch.body!.value.meta!.title).toBe("second");
    expect(afterPatch.etag).not.toBe(before.etag);
    expect(afterPatch.etag).toBe(`"${afterPatch.body!.etag}"`);
    // An old ETag no longer matches: 200 with the new content.
    expect((await getJson("/v1/docs/d", { "if-none-match": before.etag! })).status).toBe(200);
    // A write as a remote region would make it (no HTTP request involved).
    await replica.applyRemote("d", "yjs", yjsClient(77).insert("from afar", 0, "body"));
    expect(((await getJson("/v1/docs/d")).body!.value as { body?: string }).body).toBe("from afar");
    await replica.delete("d");
    expect((await getJson("/v1/docs/d")).status).toBe(410);
  });

  it("keeps nothing with viewCacheBytes 0, and answers the same", async () => {
    const uncached = createServer(replica, { viewCacheBytes: 0 });
    const a = await (await uncached.request("/v1/docs/d")).text();
    const read = vi.spyOn(replica, "read");
    expect(await (await uncached.request("/v1/docs/d")).text()).toBe(a);
    expect(read).toHaveBeenCalledTimes(1);
  });
});
