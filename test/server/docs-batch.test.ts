/** POST /v1/docs:batch through app.request(): per-item results, auth per item, limits. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer } from "../../src/server/app.ts";
import { hashToken, type TokenRecord } from "../../src/server/auth.ts";
import { maxBatchDocs } from "../../src/server/docs-batch-route.ts";
import { memoryReplica } from "../helpers/replicas.ts";

const tokens: TokenRecord[] = [
  { name: "reader", sha256: hashToken("read-token"), scopes: ["read"] },
  { name: "team-a", sha256: hashToken("team-a-token"), scopes: ["read", "write"], prefix: "a/" },
];
const post = (body: unknown, token?: string) => ({
  method: "POST",
  body: typeof body === "string" ? body : JSON.stringify(body),
  headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
});
type Results = { results: Array<{ id: string; status: number; version?: string; error?: { code: string } }> };

let replica: Replica;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
});
afterEach(async () => replica.close());

describe("POST /v1/docs:batch", () => {
  it("creates the valid documents and answers each item with the status its own PUT would get", async () => {
    const app = createServer(replica);
    await replica.create("taken", "yjs");
    const r = await app.request("/v1/docs:batch", post({ docs: [
      { id: "x", kind: "yjs" },
      { id: "y", kind: "automerge", init: { items: [] } },
      { id: "taken", kind: "yjs" },
      { id: "z", kind: "xml" },
      { kind: "yjs" },
      "not an item",
    ] }));
    expect(r.status).toBe(200);
    const { results } = (await r.json()) as Results;
    expect(results.map((x) => [x.id, x.status, x.error?.code])).toEqual([
      ["x", 201, undefined], ["y", 201, undefined], ["taken", 409, "exists"], ["z", 400, "invalid_argument"],
      ["", 400, "invalid_argument"], ["", 400, "invalid_argument"],
    ]);
    const y = await app.request("/v1/docs/y");
    expect(y.status).toBe(200);
    expect(await y.json()).toMatchObject({ kind: "automerge", value: { items: [] }, version: results[1]!.version });
    expect((await app.request("/v1/docs/z")).status).toBe(404);
  });

  it("needs the write scope, and keeps out only the items outside the token's prefix", async () => {
    const app = createServer(replica, { tokens });
    const docs = [{ id: "a/1", kind: "yjs" }, { id: "b/1", kind: "yjs" }, { id: "a/2", kind: "automerge" }];
    expect((await app.request("/v1/docs:batch", post({ docs }))).status).toBe(401);
    expect((await app.request("/v1/docs:batch", post({ docs }, "read-token"))).status).toBe(403);
    const r = await app.request("/v1/docs:batch", post({ docs }, "team-a-token"));
    const { results } = (await r.json()) as Results;
    expect(results.map((x) => [x.id, x.status, x.error?.code])).toEqual([["a/1", 201, undefined], ["b/1", 403, "forbidden"], ["a/2", 201, undefined]]);
    expect((await replica.status("b/1")).state).toBe("absent");
    expect((await replica.status("a/2")).state).toBe("present");
  });

  it("refuses a malformed body (400) and a batch over the limit (413), creating nothing", async () => {
    const app = createServer(replica);
    for (const body of ["{", { docs: "x" }, [{ id: "q", kind: "yjs" }]]) {
      expect((await app.request("/v1/docs:batch", post(body))).status).toBe(400);
    }
    const docs = Array.from({ length: maxBatchDocs + 1 }, (_, i) => ({ id: `big-${i}`, kind: "yjs" }));
    const r = await app.request("/v1/docs:batch", post({ docs }));
    expect(r.status).toBe(413);
    expect((await replica.status("big-0")).state).toBe("absent");
    expect((await replica.status("q")).state).toBe("absent");
  });
});
