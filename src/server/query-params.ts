/** Query parameters the client API shares, read strictly: a bad value is a clear invalid_argument. */
import type { Context } from "hono";
import { fail } from "./http-errors.ts";

/** `?name` as a non-negative integer capped at `max`; `fallback` when absent. */
export function intParam(c: Context, name: string, fallback: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) fail("invalid_argument", `?${name} must be a non-negative integer`);
  return Math.min(n, max);
}
