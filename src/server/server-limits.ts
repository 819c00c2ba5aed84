/**
 * Client request limits a deployment sets for every region: the `limits`
 * section of a topology file, which `concord serve` flags override.
 *
 *   "limits": { "rateLimit": { "requestsPerSecond": 100, "burst": 200 },
 *               "maxConcurrentRequests": 1024, "maxConcurrentPerToken": 256 }
 */
import { ConcordError } from "../errors.ts";
import type { RateLimitOptions } from "./limits.ts";

export interface ServerLimits {
  rateLimit?: RateLimitOptions;
  maxConcurrentRequests?: number;
  maxConcurrentPerToken?: number;
}

const bad = (message: string) => new ConcordError("invalid_argument", message);

/** A positive integer (or, with `fraction`, a positive number) at `field`; undefined when absent. */
export function positive(value: unknown, field: string, fraction = false): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value) || (!fraction && !Number.isInteger(value))) {
    throw bad(`${field} must be a positive ${fraction ? "number" : "integer"}`);
  }
  return value;
}

/** Checks a topology's `limits` section (undefined: no limits set there). */
export function parseServerLimits(json: unknown, source = "topology"): ServerLimits {
  if (json === undefined) return {};
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw bad(`${source}: limits must be an object`);
  const raw = json as Record<string, unknown>;
  const known = ["rateLimit", "maxConcurrentRequests", "maxConcurrentPerToken"];
  const unknown = Object.keys(raw).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw bad(`${source}: limits.${unknown[0]} is not a limit (${known.join(", ")})`);
  const limits: ServerLimits = {};
  const max = positive(raw.maxConcurrentRequests, `${source}: limits.maxConcurrentRequests`);
  const perToken = positive(raw.maxConcurrentPerToken, `${source}: limits.maxConcurrentPerToken`);
  if (max !== undefined) limits.maxConcurrentRequests = max;
  if (perToken !== undefined) limits.maxConcurrentPerToken = perToken;
  if (raw.rateLimit !== undefined) {
    const rate = raw.rateLimit as Record<string, unknown> | null;
    const requestsPerSecond = positive(rate?.requestsPerSecond, `${source}: limits.rateLimit.requestsPerSecond`, true);
    if (requestsPerSecond === undefined) throw bad(`${source}: limits.rateLimit.requestsPerSecond is required`);
    limits.rateLimit = { requestsPerSecond, burst: positive(rate?.burst, `${source}: limits.rateLimit.burst`) ?? Math.max(1, Math.ceil(requestsPerSecond)) };
  }
  return limits;
}
