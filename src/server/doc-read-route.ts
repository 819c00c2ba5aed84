/**
 * GET /v1/docs/:id: a document as JSON (with a strong ETag and 304 on
 * If-None-Match), as one binary state (`?format=update`), or as a diff
 * (`?since=ETAG` or `?since=VERSION`), optionally after a read-your-writes token (`?after`).
 * ETags carry the version's fixed-size tag (DocHead.etag, src/replica/version-tag.ts).
 *
 * The version is read first and nothing is rendered that the answer does not
 * carry: a 304 builds no JSON, `?format=update` and `?since` build no JSON
 * view, and the JSON or whole state of a version already sent comes from a
 * cache (src/server/view-cache.ts).
 */
import { Hono } from "hono";
import type { Replica } from "../replica/replica.ts";
import { authorize } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { fail } from "./http-errors.ts";
import { noneMatchHits } from "./if-match.ts";
import { intParam } from "./query-params.ts";
import type { ViewCache } from "./view-cache.ts";

export interface DocReadRouteOptions {
  /** Longest a read may wait for its `after` token, ms. */
  maxWaitMs: number;
  /** Renderings of documents' JSON by version tag. */
  views: ViewCache;
  /** Documents' whole states (`?format=update`) by version tag. */
  states: ViewCache;
}

/** The route under /v1/docs. */
export function docReadRoute(replica: Replica, options: DocReadRouteOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  /** The whole state at version `tag`, from the cache or encoded (and kept only if no write came in between). */
  const wholeState = async (id: string, tag: string): Promise<Uint8Array> => {
    const cached = options.states.get(id, tag);
    if (cached !== undefined) return cached;
    const bytes = await replica.encodeState(id);
    // Versions only move forward: the same version after as before means these bytes are that version.
    if ((await replica.head(id)).etag === tag) options.states.set(id, tag, bytes);
    return bytes;
  };
  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    authorize(c.get("principal"), "read", id);
    const after = c.req.query("after");
    const head = await replica.head(id, after === undefined ? {} : { after, timeoutMs: intParam(c, "timeoutMs", 5000, options.maxWaitMs) });
    const format = c.req.query("format") ?? "json";
    const since = c.req.query("since");
    if (format !== "json" && format !== "update") fail("invalid_argument", "?format must be json or update");
    // The version names the content exactly, so it is a strong validator; the representation is part of it.
    const suffix = since !== undefined ? ".diff" : format === "update" ? ".update" : "";
    const etag = `"${head.etag}${suffix}"`;
    // The long form ETags had before tags (the whole version) still matches.
    if (noneMatchHits(c.req.header("if-none-match"), [etag, `"${head.version}${suffix}"`])) {
      return c.body(null, 304, { ETag: etag, "Cache-Control": "no-cache" });
    }
    if (suffix !== "") {
      const bytes = since !== undefined ? await replica.diff(id, since) : await wholeState(id, head.etag);
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
        ETag: etag, "Cache-Control": "no-cache", "Content-Type": "application/octet-stream", "X-Concord-Version": head.version, "X-Concord-Kind": head.kind,
      });
    }
    let tag = head.etag;
    let body = options.views.get(id, tag);
    if (body === undefined) {
      // Rendered now, perhaps at a newer version than the head: the ETag follows the body.
      const view = await replica.read(id);
      tag = view.etag;
      body = Buffer.from(JSON.stringify(view));
      options.views.set(id, tag, body);
    }
    return c.body(body as Uint8Array<ArrayBuffer>, 200, { ETag: `"${tag}"`, "Cache-Control": "no-cache", "Content-Type": "application/json" });
  });
  return app;
}
