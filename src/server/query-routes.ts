/**
 * Queries and index administration over HTTP:
 *   GET  /v1/docs?where=meta.status==open&where=meta.prio>=2&order=meta.prio&limit=50&cursor=…&values=true[&scan=true]
 *        (docs-routes.ts hands a list request with `where` or `order` here)
 *   POST /v1/query      { where: [{ path, op, value }], orderBy?, limit?, cursor?, values? }
 *   PUT/GET/DELETE /v1/indexes/:name, GET /v1/indexes   (scope admin)
 * Both query forms answer like the list endpoint, `{ ids, cursor }`, plus
 * `values` (the documents' JSON views, in the order of `ids`) when asked.
 * Results are limited to the token's prefix, and need the read scope.
 */
import { Hono, type Context } from "hono";
import { ConcordError, isConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";
import type { IndexValue } from "../query/index-definition.ts";
import { indexNeeded } from "../query/query-plan.ts";
import { parseConditionText, typeValue, type Condition, type QueryOptions, type QueryPage } from "../query/query-spec.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { fail } from "./http-errors.ts";

/** True when a GET /v1/docs is a query rather than a plain listing. */
export const isQueryRequest = (c: Context) => c.req.query("where") !== undefined || c.req.query("order") !== undefined;

/** The conditions of `?where=…` (repeated: and), each value typed by the index on its path. */
/** A text value with no index to type it (a scan): true/false, a number, else a string. */
function guessValue(raw: string): IndexValue {
  if (raw === "true" || raw === "false") return raw === "true";
  return raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : typeValue("string", raw);
}

function conditionsFromSearch(replica: Replica, texts: readonly string[], scan: boolean): Condition[] {
  const indexes = replica.listIndexes();
  return texts.map((text) => {
    const { path, op, text: raw } = parseConditionText(text);
    const index = indexes.find((i) => i.path === path && i.kind === "order") ?? indexes.find((i) => i.path === path);
    if (!index && scan) return { path, op, value: op === "in" ? raw.split(",").map((v) => guessValue(v.trim())) : guessValue(raw) };
    if (!index) {
      const guess = /^(true|false)$/.test(raw) ? "boolean" : raw !== "" && Number.isFinite(Number(raw)) ? "number" : "string";
      throw indexNeeded(path, guess, ["==", "!=", "in"].includes(op) ? "equality" : "order", `the condition ${text} cannot be answered`);
    }
    const value: IndexValue | IndexValue[] = op === "in" ? raw.split(",").map((v) => typeValue(index.type, v.trim())) : typeValue(index.type, raw);
    return { path, op, value };
  });
}

async function answer(c: Context<AppEnv>, replica: Replica, query: QueryOptions, withValues: boolean) {
  const principal = c.get("principal");
  authorize(principal, "read");
  const page: QueryPage = await replica.query(query, { idPrefix: principal.prefix });
  const body: { ids: string[]; cursor: string | null; values?: unknown[] } = { ids: page.ids, cursor: page.cursor ?? null };
  if (withValues) {
    body.values = await Promise.all(page.ids.map(async (id) => {
      try {
        return (await replica.read(id)).value;
      } catch (error) {
        // Deleted since the page was read: it has no value any more.
        if (isConcordError(error, "not_found") || isConcordError(error, "deleted")) return null;
        throw error;
      }
    }));
  }
  return c.json(body);
}

/** GET /v1/docs with `where` / `order`: the query form of the list endpoint. */
export async function answerSearchQuery(c: Context<AppEnv>, replica: Replica) {
  const limit = c.req.query("limit");
  const cursor = c.req.query("cursor");
  const order = c.req.query("order");
  if (limit !== undefined && !/^\d+$/.test(limit)) fail("invalid_argument", "?limit must be a positive integer");
  const query: QueryOptions = {
    where: conditionsFromSearch(replica, c.req.queries("where") ?? [], c.req.query("scan") === "true"),
    ...(order ? { orderBy: order } : {}),
    ...(limit ? { limit: Number(limit) } : {}),
    ...(cursor ? { cursor } : {}),
    ...(c.req.query("scan") === "true" ? { scan: true } : {}),
  };
  return answer(c, replica, query, c.req.query("values") === "true");
}

export function queryRoutes(replica: Replica): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post("/query", async (c) => {
    const body = await c.req.json().catch(() => fail("invalid_argument", "the body must be JSON"));
    if (typeof body !== "object" || body === null) fail("invalid_argument", "the body is { where, orderBy?, limit?, cursor?, values? }");
    const { values, ...query } = body as QueryOptions & { values?: unknown };
    return answer(c, replica, query, values === true);
  });

  app.get("/indexes", (c) => {
    authorize(c.get("principal"), "admin");
    return c.json({ indexes: replica.listIndexes(), status: replica.indexStatus() });
  });

  app.get("/indexes/:name", (c) => {
    authorize(c.get("principal"), "admin");
    const index = replica.listIndexes().find((i) => i.name === c.req.param("name"));
    if (!index) throw new ConcordError("not_found", `no index "${c.req.param("name")}"`);
    return c.json({ index, status: replica.indexStatus() });
  });

  app.put("/indexes/:name", async (c) => {
    authorize(c.get("principal"), "admin");
    const body = await c.req.json().catch(() => fail("invalid_argument", "the body must be JSON: { path, type, kind? }"));
    const index = await replica.defineIndex({ ...(body as object), name: c.req.param("name") } as Parameters<Replica["defineIndex"]>[0]);
    return c.json({ index, status: replica.indexStatus() });
  });

  app.delete("/indexes/:name", async (c) => {
    authorize(c.get("principal"), "admin");
    if (!(await replica.dropIndex(c.req.param("name")))) throw new ConcordError("not_found", `no index "${c.req.param("name")}"`);
    return c.body(null, 204);
  });

  return app;
}
