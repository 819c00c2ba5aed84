/**
 * Request limits: body size (checked while streaming, so a chunked body with
 * no Content-Length is cut off too), request rate per principal (a token
 * bucket on the injected clock), concurrent requests in all, and concurrent
 * requests per principal (so one token cannot take every slot).
 */
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Principal } from "./auth.ts";
import { errorResponse } from "./http-errors.ts";

/** The Node request @hono/node-server passes as `c.env.incoming`; absent under app.request() and the simulator. */
interface NodeIncoming {
  httpVersionMajor: number;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * 413 "too_large" before the handler sees more than `maxBodyBytes`.
 *
 * On a Node socket the request's own headers decide, without building a
 * fetch Request (Hono's bodyLimit does, for every request, GETs included:
 * ~18 % of a small GET's CPU): HTTP/1.1 framing means a request with neither
 * Transfer-Encoding nor Content-Length has no body, and Node's parser ends a
 * body at its Content-Length, so a declared length is the length. Only a
 * chunked body (or a Request with no socket behind it) is counted while it
 * streams, by Hono's bodyLimit.
 */
export function limitBody(maxBodyBytes: number): MiddlewareHandler {
  const tooLarge = (c: Context) => errorResponse(c, new ConcordError("too_large", `the request body is over ${maxBodyBytes} bytes`));
  const streamed = bodyLimit({ maxSize: maxBodyBytes, onError: tooLarge });
  return async (c, next) => {
    const incoming = (c.env as { incoming?: NodeIncoming } | undefined)?.incoming;
    // HTTP/2 frames bodies itself: only HTTP/1.x takes the header path.
    const headers = incoming?.httpVersionMajor === 1 ? incoming.headers : undefined;
    if (headers === undefined || headers["transfer-encoding"] !== undefined) return streamed(c, next);
    const declared = headers["content-length"];
    if (declared === undefined) return next();
    return Number(declared) > maxBodyBytes ? tooLarge(c) : next();
  };
}

export interface RateLimitOptions {
  /** Sustained requests per second per principal. */
  requestsPerSecond: number;
  /** Requests a principal may make at once after being idle. */
  burst: number;
  /** Principals tracked at most; the least recently seen is forgotten (and starts with a full bucket). */
  maxPrincipals?: number;
}

/** 429 "rate_limited" with Retry-After once a principal's bucket is empty. */
export function limitRate(clock: Clock, options: RateLimitOptions): MiddlewareHandler<{ Variables: { principal: Principal } }> {
  const maxPrincipals = options.maxPrincipals ?? 10_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return async (c, next) => {
    const key = c.get("principal").name;
    const now = clock.now();
    const bucket = buckets.get(key) ?? { tokens: options.burst, at: now };
    bucket.tokens = Math.min(options.burst, bucket.tokens + ((now - bucket.at) / 1000) * options.requestsPerSecond);
    bucket.at = now;
    buckets.delete(key); // re-insert: Map order is recency order
    buckets.set(key, bucket);
    if (buckets.size > maxPrincipals) buckets.delete(buckets.keys().next().value!);
    if (bucket.tokens < 1) {
      const retryAfterMs = ((1 - bucket.tokens) / options.requestsPerSecond) * 1000;
      throw new ConcordError("rate_limited", `over ${options.requestsPerSecond} requests per second`, { details: { retryAfterMs } });
    }
    bucket.tokens -= 1;
    return next();
  };
}

/** 503 "unavailable" while `maxConcurrentRequests` requests are already in progress. */
export function limitConcurrency(maxConcurrentRequests: number): MiddlewareHandler {
  let inFlight = 0;
  return async (_c, next) => {
    if (inFlight >= maxConcurrentRequests) {
      throw new ConcordError("unavailable", `over ${maxConcurrentRequests} requests in progress; retry shortly`, { details: { retryAfterMs: 1000 } });
    }
    inFlight++;
    try {
      await next();
    } finally {
      inFlight--;
    }
  };
}

/**
 * 429 "rate_limited" while the principal already has `maxPerPrincipal`
 * requests in progress. Without it one token holding slow requests fills
 * `maxConcurrentRequests` and every other token gets 503. Entries go when
 * their count drops to 0, so the map never outgrows the requests in flight.
 */
export function limitPrincipalConcurrency(maxPerPrincipal: number): MiddlewareHandler<{ Variables: { principal: Principal } }> {
  const inFlight = new Map<string, number>();
  return async (c, next) => {
    const key = c.get("principal").name;
    const count = inFlight.get(key) ?? 0;
    if (count >= maxPerPrincipal) {
      throw new ConcordError("rate_limited", `this token already has ${maxPerPrincipal} requests in progress; retry shortly`, {
        details: { retryAfterMs: 1000, reason: "concurrency" },
      });
    }
    inFlight.set(key, count + 1);
    try {
      await next();
    } finally {
      const left = inFlight.get(key)! - 1;
      if (left === 0) inFlight.delete(key);
      else inFlight.set(key, left);
    }
  };
}
