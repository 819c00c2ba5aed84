/**
 * Whether a document's indexed value satisfies a condition: the one rule
 * every query path applies (index walk, residual check, bounded scan), so an
 * index never answers differently from a scan. A document without a value of
 * the index's type at the path matches no condition, not even `!=`.
 */
import type { IndexType, IndexValue } from "./index-definition.ts";
import { compareIndexValues } from "./order-encoding.ts";
import type { Condition } from "./query-spec.ts";

export function conditionMatches(type: IndexType, condition: Condition, held: IndexValue | undefined): boolean {
  if (held === undefined || typeof held !== type) return false;
  const { op, value } = condition;
  if (op === "in") return (value as IndexValue[]).some((v) => v === held);
  if (op === "prefix") return typeof held === "string" && held.startsWith(value as string);
  if (op === "==") return held === value;
  if (op === "!=") return held !== value;
  const order = compareIndexValues(type, held, value as IndexValue);
  return op === "<" ? order < 0 : op === "<=" ? order <= 0 : op === ">" ? order > 0 : order >= 0;
}
