/**
 * The client API for documents: create, binary updates, JSON operations,
 * listing and deletion (reads are in doc-read-route.ts).
 * Every failure is a ConcordError, rendered by http-errors.ts.
 */
import { Hono, type Context } from "hono";
import { isDocKind } from "../doc/index.ts";
import { parseJsonOps } from "../doc/json-ops.ts";
import type { Replica } from "../replica/replica.ts";
import type { Durability, WriteAck, WriteOptions } from "../replica/types.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { decodeDeltaSequence, isDeltaSequence } from "./delta-sequence.ts";
import { fail } from "./http-errors.ts";
import { ifMatchVersions } from "./if-match.ts";
import { intParam } from "./query-params.ts";
import { answerSearchQuery, isQueryRequest } from "./query-routes.ts";

export interface DocsRouteOptions {
  /** Longest a client may ask a write to wait for other regions, or a read for its token. */
  maxWaitMs: number;
  /** Most ids one list page returns. */
  maxListLimit: number;
}

const durabilities: readonly Durability[] = ["local", "majority", "all"];

/** A write's options from its query and its If-Match header (a conditional write: see WriteOptions.ifVersion). */
function writeOptions(c: Context, maxWaitMs: number): WriteOptions {
  const durability = c.req.query("durability") ?? "local";
  if (!(durabilities as readonly string[]).includes(durability)) fail("invalid_argument", "?durability must be local, majority or all");
  const ifVersion = ifMatchVersions(c.req.header("if-match"));
  return { durability: durability as Durability, timeoutMs: intParam(c, "timeoutMs", 5000, maxWaitMs), ...(ifVersion ? { ifVersion } : {}) };
}

/** The ack as JSON, with the new version's ETag also in the header (the next conditional write's If-Match). */
const ackResponse = (c: Context, ack: WriteAck) => {
  c.header("ETag", `"${ack.etag}"`);
  return c.json({ id: ack.id, version: ack.version, etag: ack.etag, changed: ack.changed, token: ack.token, replicatedTo: ack.replicatedTo });
};

/**
 * Writes `deltas` in order, pipelined, and answers the last one's ack, its read-your-writes token widened to
 * the version (a Yjs write's own token names that write alone, and independent deltas do not imply each
 * other). If any fails: the first failure's error, with how many were written (each written one is durable).
 */
async function updateAll(replica: Replica, id: string, deltas: Uint8Array[], write: WriteOptions): Promise<WriteAck> {
  if (write.ifVersion !== undefined) fail("invalid_argument", "If-Match conditions one delta: send a conditional write alone");
  const results = await Promise.allSettled(deltas.map((delta) => replica.update(id, delta, write)));
  const failed = results.findIndex((r) => r.status === "rejected");
  if (failed < 0) {
    const last = (results.at(-1) as PromiseFulfilledResult<WriteAck>).value;
    return { ...last, token: last.version };
  }
  const error = (results[failed] as PromiseRejectedResult).reason as unknown;
  const applied = results.filter((r) => r.status === "fulfilled").length;
  if (!isConcordError(error)) throw error;
  throw new ConcordError(error.code, `delta ${failed} of ${deltas.length}: ${error.message} (${applied} of them written)`, {
    details: { ...error.details, index: failed, written: applied },
  });
}

/** Routes under /v1/docs. */
export function docsRoutes(replica: Replica, options: DocsRouteOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.put("/:id", async (c) => {
    const id = c.req.param("id");
    authorize(c.get("principal"), "write", id);
    const body = (await c.req.json().catch(() => fail("invalid_argument", 'the body must be JSON: { "kind": "yjs" | "automerge", "init"?: {...} }'))) as { kind?: unknown; init?: unknown };
    if (!isDocKind(body?.kind)) fail("invalid_argument", '"kind" must be "yjs" or "automerge"');
    const view = await replica.create(id, body.kind, body.init === undefined ? {} : { init: body.init });
    c.header("ETag", `"${view.etag}"`);
    return c.json(view, 201);
  });

  app.post("/:id/updates", async (c) => {
    const id = c.req.param("id");
    authorize(c.get("principal"), "write", id);
    const write = writeOptions(c, options.maxWaitMs);
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (isDeltaSequence(c.req.header("content-type"))) return ackResponse(c, await updateAll(replica, id, decodeDeltaSequence(body), write));
    if (body.length === 0) fail("invalid_update", "the body must be a binary delta (application/octet-stream)");
    return ackResponse(c, await replica.update(id, body, write));
  });

  app.patch("/:id", async (c) => {
    const id = c.req.param("id");
    authorize(c.get("principal"), "write", id);
    const write = writeOptions(c, options.maxWaitMs);
    const ops = parseJsonOps(await c.req.json().catch(() => fail("invalid_argument", "the body must be JSON")));
    return ackResponse(c, await replica.patch(id, ops, write));
  });

  app.get("/", async (c) => {
    if (isQueryRequest(c)) return answerSearchQuery(c, replica);
    const principal = c.get("principal");
    const prefix = c.req.query("prefix") ?? principal.prefix;
    authorize(principal, "read", prefix);
    const limit = intParam(c, "limit", 100, options.maxListLimit) || 1;
    const cursor = c.req.query("cursor");
    const ids: string[] = [];
    // One more than asked tells whether there is a next page.
    for await (const id of replica.list({ prefix, limit: limit + 1, ...(cursor ? { after: cursor } : {}) })) ids.push(id);
    const page = ids.slice(0, limit);
    return c.json({ ids: page, cursor: ids.length > limit ? page.at(-1)! : null });
  });

  app.delete("/:id", async (c) => {
    const id = c.req.param("id");
    authorize(c.get("principal"), "write", id);
    const ifVersion = ifMatchVersions(c.req.header("if-match"));
    if (!(await replica.delete(id, ifVersion ? { ifVersion } : {}))) fail("not_found", `no document "${id}"`);
    return c.body(null, 204);
  });

  return app;
}
