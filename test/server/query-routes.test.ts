/**
 * Queries over HTTP: GET /v1/docs?where=…, POST /v1/query, and the index
 * admin routes, with the token's scope and prefix honoured and a clear 400
 * for a query no index serves.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer } from "../../src/server/app.ts";
import { hashToken, type TokenRecord } from "../../src/server/auth.ts";
import { memoryReplica } from "../helpers/replicas.ts";

const tokens: TokenRecord[] = [
  { name: "admin", sha256: hashToken("admin-token"), scopes: ["read", "write", "admin"] },
  { name: "reader", sha256: hashToken("read-token"), scopes: ["read"] },
  { name: "team-a", sha256: hashToken("team-a-token"), scopes: ["read", "write"], prefix: "a/" },
];
const as = (token: string, init: RequestInit = {}) => ({ ...init, headers: { "content-type": "application/json", ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } });
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;

let replica: Replica;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
});
afterEach(async () => replica.close());

async function seed(app: ReturnType<typeof createServer>) {
  expect((await app.request("/v1/indexes/status", as("admin-token", { method: "PUT", body: JSON.stringify({ path: "meta.status", type: "string" }) }))).status).toBe(200);
  expect((await app.request("/v1/indexes/prio", as("admin-token", { method: "PUT", body: JSON.stringify({ path: "meta.prio", type: "number", kind: "order" }) }))).status).toBe(200);
  for (const [i, id] of ["a/1", "a/2", "b/1", "b/2", "a/3"].entries()) {
    await replica.create(id, "yjs", { init: { meta: { status: i % 2 ? "done" : "open", prio: i } } });
  }
}

describe("query routes", () => {
  it("answers GET /v1/docs?where=… typed by the index, ordered and paged, with values on request", async () => {
    const app = createServer(replica, { tokens });
    await seed(app);
    const first = await json(await app.request("/v1/docs?where=meta.prio>=1&order=meta.prio&limit=2&values=true", as("read-token")));
    expect(first.ids).toEqual(["a/2", "b/1"]);
    expect(first.values).toEqual([{ meta: { status: "done", prio: 1 } }, { meta: { status: "open", prio: 2 } }]);
    const second = await json(await app.request(`/v1/docs?where=meta.prio>=1&order=meta.prio&limit=2&cursor=${String(first.cursor)}`, as("read-token")));
    expect(second.ids).toEqual(["b/2", "a/3"]);
    const open = await json(await app.request(`/v1/docs?where=${encodeURIComponent("meta.status==open")}&where=${encodeURIComponent("meta.prio<4")}`, as("read-token")));
    expect((open.ids as string[]).sort()).toEqual(["a/1", "b/1"]);
    const quoted = await json(await app.request(`/v1/docs?where=${encodeURIComponent('meta.status in "done",open')}&where=meta.prio>2`, as("read-token")));
    expect((quoted.ids as string[]).sort()).toEqual(["a/3", "b/2"]);
  });

  it("answers POST /v1/query within the token's prefix only", async () => {
    const app = createServer(replica, { tokens });
    await seed(app);
    const body = JSON.stringify({ where: [{ path: "meta.status", op: "==", value: "open" }] });
    const all = await json(await app.request("/v1/query", as("read-token", { method: "POST", body })));
    expect((all.ids as string[]).sort()).toEqual(["a/1", "a/3", "b/1"]);
    const teamA = await json(await app.request("/v1/query", as("team-a-token", { method: "POST", body })));
    expect((teamA.ids as string[]).sort()).toEqual(["a/1", "a/3"]);
    expect(teamA.cursor).toBeNull();
  });

  it("refuses with a clear 400 a query no index serves, naming the index", async () => {
    const app = createServer(replica, { tokens });
    await seed(app);
    const r = await app.request("/v1/docs?where=meta.owner==ann", as("read-token"));
    expect(r.status).toBe(400);
    const error = (await json(r)).error as { code: string; message: string };
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toContain(`equality index on "meta.owner"`);
    const range = await app.request("/v1/query", as("read-token", { method: "POST", body: JSON.stringify({ where: [{ path: "meta.status", op: ">", value: "a" }] }) }));
    expect(range.status).toBe(400);
    expect(((await json(range)).error as { message: string }).message).toContain(`order index on "meta.status"`);
    const badValue = await app.request("/v1/docs?where=meta.prio==high", as("read-token"));
    expect(badValue.status).toBe(400);
  });

  it("lets only admin tokens manage indexes, and keeps the definitions document from clients", async () => {
    const app = createServer(replica, { tokens });
    await seed(app);
    expect((await app.request("/v1/indexes/x", as("team-a-token", { method: "PUT", body: JSON.stringify({ path: "x", type: "string" }) }))).status).toBe(403);
    expect((await app.request("/v1/indexes", as("read-token"))).status).toBe(403);
    const listed = await json(await app.request("/v1/indexes", as("admin-token")));
    expect((listed.indexes as Array<{ name: string; state: string }>).map((i) => `${i.name}:${i.state}`)).toEqual(["prio:ready", "status:ready"]);
    expect((await app.request("/v1/indexes/status", as("admin-token", { method: "DELETE" }))).status).toBe(204);
    expect((await app.request("/v1/indexes/status", as("admin-token", { method: "DELETE" }))).status).toBe(404);
    expect((await app.request("/v1/indexes/bad", as("admin-token", { method: "PUT", body: JSON.stringify({ path: "x", type: "date" }) }))).status).toBe(400);
    expect((await app.request("/v1/docs/~concord%2Findexes", as("admin-token", { method: "DELETE" }))).status).toBe(403);
    const metrics = await (await app.request("/metrics", as("admin-token"))).text();
    expect(metrics).toMatch(/concord_indexes\{state="ready",region="test"\} 1/);
    expect(metrics).toMatch(/concord_index_backfill_docs\{region="test"\} \d+/);
    const ids = (await json(await app.request("/v1/docs", as("read-token")))).ids as string[];
    expect(ids.some((id) => id.startsWith("~"))).toBe(false);
  });
});
