/**
 * The client API through app.request(): no sockets. Covers every route's
 * success path and its errors with their stable codes and statuses.
 */
import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import { createServer, type ConcordApp } from "../../src/server/app.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

let replica: Replica;
let app: ConcordApp;

const json = (method: string, body: unknown) => ({ method, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
const errorCode = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;

beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
  app = createServer(replica);
});
afterEach(async () => replica.close());

describe("documents", () => {
  it("creates a document (201) and refuses to create it twice (409 exists)", async () => {
    const r = await app.request("/v1/docs/a", json("PUT", { kind: "yjs" }));
    expect(r.status).toBe(201);
    expect(await r.json()).toMatchObject({ id: "a", kind: "yjs" });
    const again = await app.request("/v1/docs/a", json("PUT", { kind: "automerge" }));
    expect(again.status).toBe(409);
    expect(await errorCode(again)).toBe("exists");
    expect((await app.request("/v1/docs/b", json("PUT", { kind: "xml" }))).status).toBe(400);
  });

  it.each(["yjs", "automerge"])("creates a %s document with an initial shape, and refuses a bad shape without creating it", async (kind) => {
    const r = await app.request("/v1/docs/shaped", json("PUT", { kind, init: { items: ["a"], meta: { title: "T" } } }));
    expect(r.status).toBe(201);
    expect(((await r.json()) as { value: unknown }).value).toEqual({ items: ["a"], meta: { title: "T" } });
    for (const init of [[1], "x", { n: 1 }].slice(0, kind === "yjs" ? 3 : 2)) {
      const bad = await app.request("/v1/docs/bad", json("PUT", { kind, init }));
      expect(bad.status).toBe(400);
      expect(await errorCode(bad)).toBe("invalid_argument");
    }
    expect((await app.request("/v1/docs/bad")).status).toBe(404);
  });

  it("applies a binary Yjs update and rejects a malformed one with 400, leaving the state unchanged", async () => {
    await app.request("/v1/docs/a", json("PUT", { kind: "yjs" }));
    const client = yjsClient(7);
    const ok = await app.request("/v1/docs/a/updates", { method: "POST", body: client.insert("hello") as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream" } });
    expect(ok.status).toBe(200);
    const ack = (await ok.json()) as { version: string; token: string; replicatedTo: number };
    expect(ack.replicatedTo).toBe(1);
    const bad = await app.request("/v1/docs/a/updates", { method: "POST", body: new Uint8Array([1, 2, 3, 250, 7]) });
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe("invalid_update");
    const view = (await (await app.request("/v1/docs/a")).json()) as { version: string; value: unknown };
    expect(view).toMatchObject({ version: ack.version, value: { text: "hello" } });
    expect((await app.request("/v1/docs/a/updates?durability=most", { method: "POST", body: client.insert("!") as Uint8Array<ArrayBuffer> })).status).toBe(400);
  });

  it("turns the same JSON operations into equal values in Yjs and Automerge documents", async () => {
    const ops = [
      { op: "set", path: ["meta", "title"], value: "Hi" },
      { op: "set", path: ["meta", "draft"], value: true },
      { op: "delete", path: ["meta", "draft"] },
      { op: "insertText", path: ["body"], index: 0, text: "hello world" },
      { op: "deleteText", path: ["body"], index: 5, length: 6 },
      { op: "push", path: ["items"], value: 1 },
      { op: "push", path: ["items"], value: { x: 2 } },
      { op: "increment", path: ["stats", "views"], by: 3 },
      { op: "increment", path: ["stats", "views"] },
    ];
    const values = [];
    for (const kind of ["yjs", "automerge"]) {
      await app.request(`/v1/docs/${kind}`, json("PUT", { kind }));
      const r = await app.request(`/v1/docs/${kind}`, json("PATCH", { ops }));
      expect(r.status, await r.clone().text()).toBe(200);
      values.push(((await (await app.request(`/v1/docs/${kind}`)).json()) as { value: unknown }).value);
    }
    expect(values[0]).toEqual({ meta: { title: "Hi" }, body: "hello", items: [1, { x: 2 }], stats: { views: 4 } });
    expect(values[1]).toEqual(values[0]);
  });

  it("rejects bad JSON operations with 400 invalid_argument and changes nothing", async () => {
    for (const kind of ["yjs", "automerge"]) {
      await app.request(`/v1/docs/${kind}`, json("PUT", { kind }));
      await app.request(`/v1/docs/${kind}`, json("PATCH", { ops: [{ op: "insertText", path: ["body"], index: 0, text: "ab" }] }));
      const before = await (await app.request(`/v1/docs/${kind}`)).text();
      for (const ops of [
        [{ op: "set", path: ["meta", "k"], value: 1 }, { op: "deleteText", path: ["body"], index: 1, length: 5 }],
        [{ op: "set", path: ["meta", "k"], value: 1 }, { op: "push", path: ["body"], value: 1 }],
        [{ op: "frobnicate", path: ["x"] }],
        [{ op: "set", path: [], value: 1 }],
      ]) {
        const r = await app.request(`/v1/docs/${kind}`, json("PATCH", { ops }));
        expect(r.status).toBe(400);
        expect(await errorCode(r)).toBe("invalid_argument");
      }
      expect(await (await app.request(`/v1/docs/${kind}`)).text()).toBe(before);
    }
    expect((await app.request("/v1/docs/nope", json("PATCH", { ops: [{ op: "push", path: ["x"], value: 1 }] }))).status).toBe(404);
  });

  it("serves the full state, a diff since a version, an ETag and 304", async () => {
    await app.request("/v1/docs/am", json("PUT", { kind: "automerge" }));
    await app.request("/v1/docs/am", json("PATCH", { ops: [{ op: "set", path: ["a"], value: 1 }] }));
    const first = (await (await app.request("/v1/docs/am")).json()) as { version: string };
    const firstState = new Uint8Array(await (await app.request("/v1/docs/am?format=update")).arrayBuffer());
    await app.request("/v1/docs/am", json("PATCH", { ops: [{ op: "set", path: ["b"], value: 2 }] }));
    const full = await app.request("/v1/docs/am?format=update");
    expect(full.headers.get("content-type")).toBe("application/octet-stream");
    expect(Automerge.load(new Uint8Array(await full.arrayBuffer()))).toEqual({ a: 1, b: 2 });
    const diff = new Uint8Array(await (await app.request(`/v1/docs/am?since=${first.version}`)).arrayBuffer());
    expect(Automerge.loadIncremental(Automerge.load(firstState), diff)).toEqual({ a: 1, b: 2 });
    const r = await app.request("/v1/docs/am");
    const etag = r.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    expect((await app.request("/v1/docs/am", { headers: { "if-none-match": etag } })).status).toBe(304);
    expect((await app.request("/v1/docs/am?format=update", { headers: { "if-none-match": etag } })).status).toBe(200);
  });

  it("answers 409 not_caught_up with Retry-After for a token this region has not reached", async () => {
    // Real time here: the wait for the token must actually time out.
    const here = await memoryReplica({ region: "here", clock: systemClock });
    const app = createServer(here);
    const other = await memoryReplica({ region: "other" });
    try {
      await other.create("doc", "yjs");
      const ack = await other.change("doc", (d: Y.Doc) => d.getText("t").insert(0, "x"));
      await app.request("/v1/docs/doc", json("PUT", { kind: "yjs" }));
      const r = await app.request(`/v1/docs/doc?after=${ack.token}&timeoutMs=0`);
      expect(r.status).toBe(409);
      expect(await errorCode(r)).toBe("not_caught_up");
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      await here.update("doc", await other.encodeState("doc"));
      expect((await app.request(`/v1/docs/doc?after=${ack.token}`)).status).toBe(200);
    } finally {
      await other.close();
      await here.close();
    }
  });

  it("lists ids by prefix in pages with a cursor", async () => {
    for (const id of ["n1", "n2", "n3", "other"]) await app.request(`/v1/docs/${id}`, json("PUT", { kind: "yjs" }));
    const page1 = (await (await app.request("/v1/docs?prefix=n&limit=2")).json()) as { ids: string[]; cursor: string | null };
    expect(page1).toEqual({ ids: ["n1", "n2"], cursor: "n2" });
    const page2 = (await (await app.request(`/v1/docs?prefix=n&limit=2&cursor=${page1.cursor}`)).json()) as { ids: string[]; cursor: string | null };
    expect(page2).toEqual({ ids: ["n3"], cursor: null });
  });

  it("deletes (204), then answers 410 deleted; 404 for a document never there", async () => {
    await app.request("/v1/docs/gone", json("PUT", { kind: "yjs" }));
    expect((await app.request("/v1/docs/gone", { method: "DELETE" })).status).toBe(204);
    const r = await app.request("/v1/docs/gone");
    expect(r.status).toBe(410);
    expect(await errorCode(r)).toBe("deleted");
    expect((await app.request("/v1/docs/never", { method: "DELETE" })).status).toBe(404);
    expect(await errorCode(await app.request("/v1/docs/never"))).toBe("not_found");
  });

  it("streams changes as Server-Sent Events and unsubscribes when the client leaves", async () => {
    await app.request("/v1/docs/live", json("PUT", { kind: "yjs" }));
    const abort = new AbortController();
    const r = await app.request("/v1/docs/live/events", { signal: abort.signal });
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const reader = r.body!.getReader();
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) text += new TextDecoder().decode((await reader.read()).value);
    };
    await readUntil("event: ready");
    await app.request("/v1/docs/live", json("PATCH", { ops: [{ op: "insertText", path: ["t"], index: 0, text: "hey" }] }));
    await readUntil("event: change");
    const data = JSON.parse(/event: change\ndata: (.*)\n/.exec(text)![1]!) as { delta: string; origin: string };
    expect(data.origin).toBe("local");
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Buffer.from(data.delta, "base64"));
    expect(doc.getText("t").toString()).toBe("hey");
    await reader.cancel();
    abort.abort();
  });

  it("serves /healthz, /readyz, /metrics and a status page", async () => {
    expect((await app.request("/healthz")).status).toBe(200);
    expect(await (await app.request("/readyz")).json()).toMatchObject({ ready: true, region: "test" });
    await app.request("/v1/docs/m", json("PUT", { kind: "yjs" }));
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toMatch(/concord_http_requests_total\{method="PUT",route="\/v1\/docs\/:id",status="201",region="test"\} 1/);
    expect(metrics).toContain("concord_http_request_duration_seconds_bucket");
    expect(await (await app.request("/")).text()).toContain("region test");
    expect((await app.request("/nowhere")).status).toBe(404);
  });
});
