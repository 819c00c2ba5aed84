/**
 * Query planning: which index walk drives a query, and the conditions that
 * are then checked against each candidate's I record. A query whose paths
 * have no index is refused with the index it would need; it never falls back
 * to scanning documents unless asked (`scan: true`).
 */
import { ConcordError } from "../errors.ts";
import type { IndexType, IndexValue } from "./index-definition.ts";
import type { StoredIndex } from "./index-layout.ts";
import type { Condition } from "./query-spec.ts";

/** One condition with the index that holds its path's values. */
export interface BoundCondition {
  condition: Condition;
  index: StoredIndex;
}

export interface Plan {
  /** The index walked; its entries come in ascending key order. */
  driver: StoredIndex;
  /** Conditions on the driver's path that bound its walk (all of them: each is exact). */
  bounds: Condition[];
  /** Every condition, checked on each candidate's stored values (skipped when `exact`). */
  checks: BoundCondition[];
  /** True when the walk alone is exact (one equality or in condition, no other): no I record read. */
  exact: boolean;
}

const rangeOps = new Set(["<", "<=", ">", ">=", "prefix"]);

/** The error naming the index a query would need. */
export function indexNeeded(path: string, type: IndexType, kind: "equality" | "order", why: string): ConcordError {
  return new ConcordError("invalid_argument", `${why}: it needs an ${kind} index on "${path}" (e.g. concord index add ${path.replace(/[^A-Za-z0-9_.-]/g, "_")} --path ${path} --type ${type}${kind === "order" ? " --order" : ""})`, {
    details: { reason: "index_required", index: { path, type, kind } },
  });
}

const typeOf = (c: Condition): IndexType => {
  const v: IndexValue = Array.isArray(c.value) ? c.value[0]! : c.value;
  return typeof v as IndexType;
};

/**
 * The plan for `where` / `orderBy` over the ready indexes. Throws
 * "invalid_argument" (reason "index_required", details.index: what to add)
 * when a path has no usable index, or a value is not of its index's type.
 */
export function planQuery(indexes: readonly StoredIndex[], where: readonly Condition[], orderBy: string | undefined): Plan {
  const onPath = (path: string) => indexes.filter((i) => i.def.path === path);
  const checks: BoundCondition[] = where.map((condition) => {
    const candidates = onPath(condition.path);
    const wantOrder = rangeOps.has(condition.op) || condition.path === orderBy;
    const index = candidates.find((i) => i.def.kind === "order") ?? (wantOrder ? undefined : candidates[0]);
    if (!index) {
      throw indexNeeded(condition.path, typeOf(condition), wantOrder ? "order" : "equality", `the condition ${condition.path} ${condition.op} … cannot be answered`);
    }
    const values = Array.isArray(condition.value) ? condition.value : [condition.value];
    if (!values.every((v) => typeof v === index.def.type)) {
      throw new ConcordError("invalid_argument", `"${condition.path}" is indexed as ${index.def.type}`, { details: { reason: "bad_query" } });
    }
    return { condition, index };
  });
  if (orderBy !== undefined) {
    const driver = onPath(orderBy).find((i) => i.def.kind === "order");
    if (!driver) throw indexNeeded(orderBy, checks.find((c) => c.condition.path === orderBy)?.index.def.type ?? "string", "order", `ordering by ${orderBy}`);
    const bounds = where.filter((c) => c.path === orderBy && c.op !== "!=");
    return { driver, bounds, checks, exact: false };
  }
  // Most selective first: equality, in, prefix, ranges; != walks the whole index.
  const rank = (c: BoundCondition) => ({ "==": 0, in: 1, prefix: 2, "<": 3, "<=": 3, ">": 3, ">=": 3, "!=": 4 })[c.condition.op];
  const best = [...checks].sort((a, b) => rank(a) - rank(b))[0]!;
  const bounds = best.condition.op === "!=" ? [] : [best.condition];
  const exact = checks.length === 1 && (best.condition.op === "==" || best.condition.op === "in");
  return { driver: best.index, bounds, checks, exact };
}
