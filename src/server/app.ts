/**
 * The Concord HTTP server for one region, as a Hono app: `app.fetch` is
 * Request → Response, so tests call `app.request()`, the node entry serves it
 * with @hono/node-server, and the simulator can drive it without sockets.
 *
 *   const app = createServer(replica, { gossip, tokens, clock });
 */
import { randomBytes } from "node:crypto";
import { Hono } from "hono";
import type { Logger } from "pino";
import { ConcordError, isConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { adminRoutes, type BackupProvider } from "./admin-routes.ts";
import { membersRoute } from "./members-route.ts";
import type { RegionMembers } from "./region-members.ts";
import { quarantineRoutes } from "./quarantine-routes.ts";
import { authenticate, createTokenTable, isTokenTable, type TokenRecord, type TokenTable } from "./auth.ts";
import { docReadRoute } from "./doc-read-route.ts";
import { docsRoutes } from "./docs-routes.ts";
import { queryRoutes } from "./query-routes.ts";
import { docsBatchRoute } from "./docs-batch-route.ts";
import type { AppEnv } from "./env.ts";
import { eventsRoute } from "./events-route.ts";
import { feedRoute } from "./feed-route.ts";
import { gossipRoute, type FrameHandler } from "./gossip-route.ts";
import { errorResponse } from "./http-errors.ts";
import { createPathRedactor } from "./log-paths.ts";
import { limitBody, limitConcurrency, limitPrincipalConcurrency, limitRate, type RateLimitOptions } from "./limits.ts";
import { createServerMetrics, type ServerMetrics } from "./metrics.ts";
import { opsRoutes, type Readiness } from "./ops-routes.ts";
import { createViewCache } from "./view-cache.ts";

export interface ServerOptions {
  /** Where gossip frames go (POST /internal/gossip); without it the route answers 404. */
  gossip?: FrameHandler;
  /** Accepted tokens (hashed). Undefined turns authentication off (the status page says so): only for development and in-process tests. */
  tokens?: readonly TokenRecord[] | TokenTable;
  /** Time for rate limits, keep-alives and latencies. Default: the system clock. */
  clock?: Clock;
  /** Largest client request body. Default 8 MiB + 64 KiB (the default delta limit plus framing). */
  maxBodyBytes?: number;
  /** Largest gossip frame accepted (413 past it, counted as oversized). Default 32 MiB. */
  maxFrameBytes?: number;
  /** Gossip frames read at once from one claimed sender (429 past it). Default 4: a peer sends one push, one anti-entropy request and a heartbeat at a time. */
  maxGossipPerSender?: number;
  /** Gossip frames read at once in all (429 past it). Default 32. */
  maxGossipInFlight?: number;
  /** Per-token rate limit; undefined means none. */
  rateLimit?: RateLimitOptions;
  /** Client requests in progress at most (503 past it). Default 1024. */
  maxConcurrentRequests?: number;
  /**
   * Client requests in progress at most per token (429 past it). Default: a quarter of
   * maxConcurrentRequests. Not applied with authentication off (every request is one principal).
   */
  maxConcurrentPerToken?: number;
  /** Longest a write may wait for other regions or a read for its token, ms. Default 30000. */
  maxWaitMs?: number;
  /** Bytes of rendered JSON views kept for GET, and as many of whole states for ?format=update (src/server/view-cache.ts). Default 32 MiB each; 0 keeps none. */
  viewCacheBytes?: number;
  /** SSE keep-alive interval, ms. Default 15000. */
  keepAliveMs?: number;
  /** Bytes of events an SSE stream holds for a client that does not read; past it the client is disconnected. Default 8 MiB. */
  maxEventQueueBytes?: number;
  /** Document ids one multi-document event stream (/v1/events) may list. Default 1000. */
  maxFeedIds?: number;
  /** Readiness for /readyz (the region says: store open, peers known). Default: always ready. */
  readiness?: () => Readiness;
  /**
   * True while the region has not completed its first anti-entropy round (new
   * or restored): a document it does not hold may be at its peers, so a
   * not_found answers 503 unavailable with Retry-After instead of 404.
   */
  catchingUp?: () => boolean;
  /** One info line per request. Default: no request log. */
  logger?: Logger;
  /**
   * Key of the hash that stands for document ids in logged paths (src/server/log-paths.ts).
   * Default: random per app, so hashes match only within one process; a region passes a key derived from its secret.
   */
  logKey?: Uint8Array;
  /** Serves GET /v1/admin/backup; without it that route answers 404. */
  backup?: BackupProvider;
  /** Aborting it ends every event stream (graceful shutdown). */
  shutdown?: AbortSignal;
  /** A region of several processes: its membership, listed by GET /v1/admin/members. */
  members?: () => RegionMembers | undefined;
}

/** While catching up, "not found" may only mean "not here yet": ask again, or another region. */
const catchingUpRetryMs = 2000;
function notHereYet(error: ConcordError): ConcordError {
  return new ConcordError("unavailable", `${error.message}; this region is still catching up with its peers, so it may only not be here yet: retry`, {
    cause: error,
    details: { reason: "catching_up", retryAfterMs: catchingUpRetryMs },
  });
}

/** The app plus what its owner needs: the metrics registry. */
export type ConcordApp = Hono<AppEnv> & { metrics: ServerMetrics };

/** Builds the HTTP app for `replica`. Creates its own metrics registry. */
export function createServer(replica: Replica, options: ServerOptions = {}): ConcordApp {
  const clock = options.clock ?? systemClock;
  const logKey = options.logKey ?? new Uint8Array(randomBytes(32));
  const redact = createPathRedactor(logKey);
  const metrics = createServerMetrics(replica, replica.region);
  const app = new Hono<AppEnv>() as ConcordApp;
  app.metrics = metrics;

  app.onError((error, c) => {
    if (!(error instanceof ConcordError) && !(error instanceof Error && (error.cause as unknown) instanceof ConcordError)) {
      options.logger?.error({ err: error, path: redact(c.req.path) }, "unexpected error");
    }
    return errorResponse(c, options.catchingUp?.() && isConcordError(error, "not_found") ? notHereYet(error) : error);
  });
  app.notFound((c) => errorResponse(c, new ConcordError("not_found", `no route ${c.req.method} ${c.req.path}`)));

  // Metrics and the request log see every request, errors included.
  app.use("*", async (c, next) => {
    const started = clock.now();
    await next();
    const route = c.res.status === 404 && c.req.routePath === "*" ? "unmatched" : c.req.routePath;
    const ms = clock.now() - started;
    metrics.observe(c.req.method, route, c.res.status, ms / 1000);
    options.logger?.info({ method: c.req.method, path: redact(c.req.path), status: c.res.status, ms, principal: c.get("principal")?.name }, "request");
  });

  app.route("/", opsRoutes(replica, metrics, () => options.readiness?.() ?? { ready: true }, { authOff: options.tokens === undefined }));

  if (options.gossip) {
    app.route("/internal", gossipRoute(options.gossip, {
      maxFrameBytes: options.maxFrameBytes ?? 32 << 20,
      maxPerSender: options.maxGossipPerSender ?? 4,
      maxInFlight: options.maxGossipInFlight ?? 32,
    }));
  }

  const maxConcurrentRequests = options.maxConcurrentRequests ?? 1024;
  app.use("/v1/*", limitConcurrency(maxConcurrentRequests));
  // One table for authentication and for revocation (a revoked token's event streams end).
  const tokens = options.tokens === undefined || isTokenTable(options.tokens) ? options.tokens : createTokenTable(options.tokens);
  app.use("/v1/*", authenticate(tokens));
  if (options.tokens) app.use("/v1/*", limitPrincipalConcurrency(options.maxConcurrentPerToken ?? Math.max(1, Math.floor(maxConcurrentRequests / 4))));
  if (options.rateLimit) app.use("/v1/*", limitRate(clock, options.rateLimit));
  app.use("/v1/*", limitBody(options.maxBodyBytes ?? (8 << 20) + (64 << 10)));
  const streams = { clock, keepAliveMs: options.keepAliveMs ?? 15_000, shutdown: options.shutdown ?? new AbortController().signal, maxQueuedBytes: options.maxEventQueueBytes ?? 8 << 20, tokens };
  app.route("/v1/docs", eventsRoute(replica, streams));
  app.route("/v1", feedRoute(replica, { ...streams, maxIds: options.maxFeedIds ?? 1000 }));
  app.route("/v1/admin", adminRoutes({ backup: options.backup, clock }));
  app.route("/v1/admin", quarantineRoutes(replica));
  app.route("/v1/admin", membersRoute(options.members));
  const views = createViewCache({ maxBytes: options.viewCacheBytes ?? 32 << 20 });
  const states = createViewCache({ maxBytes: options.viewCacheBytes ?? 32 << 20 });
  // Renderings of a changed or deleted document are never served again (the version differs): free them now.
  replica.observe((event) => {
    views.drop(event.id);
    states.drop(event.id);
  });
  app.route("/v1/docs", docReadRoute(replica, { maxWaitMs: options.maxWaitMs ?? 30_000, views, states }));
  app.route("/v1/docs", docsRoutes(replica, { maxWaitMs: options.maxWaitMs ?? 30_000, maxListLimit: 1000 }));
  app.route("/v1", docsBatchRoute(replica));
  app.route("/v1", queryRoutes(replica));
  return app;
}
