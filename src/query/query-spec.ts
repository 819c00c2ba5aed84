/**
 * What a query is: conditions on indexed paths combined with and, an
 * optional order, a page size and a cursor. Conditions come typed from the
 * embedded API, or as text from HTTP (`meta.status==open`), where a value is
 * typed by the index on its path, so quotes are optional.
 */
import { ConcordError } from "../errors.ts";
import type { IndexType, IndexValue } from "./index-definition.ts";
import { isIndexValue } from "./index-definition.ts";

export const queryOps = ["==", "!=", "<", "<=", ">", ">=", "in", "prefix"] as const;
export type QueryOp = (typeof queryOps)[number];

export interface Condition {
  path: string;
  op: QueryOp;
  /** A value, or for `in` a list of them; `prefix` takes a string. */
  value: IndexValue | IndexValue[];
}

export interface QueryOptions {
  where: Condition[];
  /** A path with an `order` index: results ascend by its value (ties by storage order). */
  orderBy?: string;
  /** Page size, 1..1000 (default 100). */
  limit?: number;
  /** From the previous page's answer. */
  cursor?: string;
  /** Allows a bounded scan of documents when no index serves the query. */
  scan?: boolean;
}

export interface QueryPage {
  ids: string[];
  /** Present when there may be more: pass it back for the next page. */
  cursor?: string;
}

export const maxQueryLimit = 1000;
export const maxInValues = 100;

const bad = (message: string) => new ConcordError("invalid_argument", message, { details: { reason: "bad_query" } });

/** Checks the shape of a query (not yet its indexes). */
export function checkQuery(query: unknown): QueryOptions & { limit: number } {
  if (typeof query !== "object" || query === null) throw bad("a query is an object { where, orderBy?, limit?, cursor? }");
  const { where = [], orderBy, limit = 100, cursor, scan } = query as Record<string, unknown>;
  if (!Array.isArray(where) || where.length > 16) throw bad("where is a list of at most 16 conditions");
  const conditions = where.map(checkCondition);
  if (orderBy !== undefined && typeof orderBy !== "string") throw bad("orderBy is a path");
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > maxQueryLimit) throw bad(`limit is 1..${maxQueryLimit}`);
  if (cursor !== undefined && (typeof cursor !== "string" || !/^[0-9a-f]{0,1100}$/.test(cursor))) throw bad("not a cursor this server gave");
  if (conditions.length === 0 && orderBy === undefined) throw bad("a query needs a condition or an orderBy");
  return { where: conditions, limit, ...(orderBy === undefined ? {} : { orderBy }), ...(cursor === undefined ? {} : { cursor: cursor as string }), ...(scan === true ? { scan: true } : {}) };
}

function checkCondition(input: unknown): Condition {
  if (typeof input !== "object" || input === null) throw bad("a condition is { path, op, value }");
  const { path, op, value } = input as Record<string, unknown>;
  if (typeof path !== "string" || path.length === 0) throw bad("a condition needs a path");
  if (!queryOps.includes(op as QueryOp)) throw bad(`op is one of ${queryOps.join(" ")}`);
  const scalar = (v: unknown) => typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
  if (op === "in") {
    if (!Array.isArray(value) || value.length === 0 || value.length > maxInValues || !value.every(scalar)) throw bad(`in takes 1..${maxInValues} values`);
  } else if (op === "prefix" ? typeof value !== "string" : !scalar(value)) {
    throw bad(`bad value for ${String(op)} on "${path}"`);
  }
  return { path, op: op as QueryOp, value: value as IndexValue };
}

// Longest operators first, so `>=` is not read as `>` followed by "=…".
const textOps = ["==", "!=", "<=", ">=", "<", ">", " in ", " prefix "] as const;

/** Parses `path<op>value` (HTTP); the value stays text until typed by the index (typeValue). */
export function parseConditionText(text: string): { path: string; op: QueryOp; text: string } {
  let best: { at: number; op: (typeof textOps)[number] } | undefined;
  for (const op of textOps) {
    const at = text.indexOf(op);
    if (at > 0 && (best === undefined || at < best.at)) best = { at, op };
  }
  if (!best) throw bad(`cannot read the condition "${text}" (path, operator ${queryOps.join(" ")}, value)`);
  return { path: text.slice(0, best.at).trim(), op: best.op.trim() as QueryOp, text: text.slice(best.at + best.op.length).trim() };
}

/** A text value as the index's type; quotes are optional for strings. */
export function typeValue(type: IndexType, text: string): IndexValue {
  const unquoted = text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
  if (type === "string") return unquoted;
  const value: unknown = type === "boolean" ? (unquoted === "true" ? true : unquoted === "false" ? false : undefined) : unquoted.trim() === "" ? NaN : Number(unquoted);
  if (!isIndexValue(type, value)) throw bad(`"${text}" is not a ${type}`);
  return value;
}
