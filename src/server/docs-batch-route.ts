/**
 * POST /v1/docs:batch — creates many documents in one request and one store
 * write (Replica.createMany). Body: `{ "docs": [{ "id", "kind", "init"? }, …] }`,
 * at most `maxBatchDocs` items. Answers 200 with one result per item, in
 * order: `{ id, status: 201, version }` for a created one, or
 * `{ id, status, error: { code, message } }` (the status PUT /v1/docs/:id
 * would answer: 400, 403, 409, 410) for one kept out; an item's failure keeps
 * out only itself. The request as a whole fails (with its usual error body)
 * for a malformed body, a token without the write scope, or a store failure.
 */
import { Hono } from "hono";
import type { DocKind } from "../doc/engine.ts";
import { ConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";
import type { CreateItem, CreateResult } from "../replica/types.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { fail, httpStatus } from "./http-errors.ts";

/** Most documents one batch creates: bounds the work (and the store write) of one request. */
export const maxBatchDocs = 1000;

const usage = 'the body must be JSON: { "docs": [{ "id": "...", "kind": "yjs" | "automerge", "init"?: {...} }, ...] }';

const resultBody = (result: CreateResult) => result.ok
  ? { id: result.id, status: 201, version: result.version }
  : { id: result.id, status: httpStatus(result.error.code), error: { code: result.error.code, message: result.error.message } };

/** The route, to mount under /v1. */
export function docsBatchRoute(replica: Replica): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post("/docs:batch", async (c) => {
    const principal = c.get("principal");
    authorize(principal, "write");
    const body = (await c.req.json().catch(() => fail("invalid_argument", usage))) as { docs?: unknown };
    const docs = body?.docs;
    if (!Array.isArray(docs)) fail("invalid_argument", usage);
    if (docs.length > maxBatchDocs) fail("too_large", `a batch creates at most ${maxBatchDocs} documents (got ${docs.length})`);
    const results: Array<CreateResult | undefined> = new Array(docs.length);
    const allowed: Array<{ index: number; item: CreateItem }> = [];
    docs.forEach((raw: unknown, index) => {
      const item = (typeof raw === "object" && raw !== null ? raw : {}) as { id?: unknown; kind?: unknown; init?: unknown };
      const id = typeof item.id === "string" ? item.id : "";
      try {
        if (typeof item.id !== "string") throw new ConcordError("invalid_argument", usage);
        authorize(principal, "write", id);
        allowed.push({ index, item: { id, kind: item.kind as DocKind, ...(item.init === undefined ? {} : { init: item.init }) } });
      } catch (error) {
        if (!(error instanceof ConcordError)) throw error;
        results[index] = { id, ok: false, error };
      }
    });
    const created = await replica.createMany(allowed.map((a) => a.item));
    created.forEach((result, i) => (results[allowed[i]!.index] = result));
    return c.json({ results: (results as CreateResult[]).map(resultBody) });
  });
  return app;
}
