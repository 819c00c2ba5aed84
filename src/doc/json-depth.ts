/**
 * Nesting depth of plain JSON-like values: an object or array is one level
 * more than its deepest member, anything else is 0. Used to bound nesting of
 * values stored inside a document, which count towards limits.maxDepth.
 */

/**
 * Depth of `value`, or `limit + 1` as soon as it is known to exceed `limit`
 * (so the walk never recurses more than `limit + 1` levels).
 */
export function jsonDepth(value: unknown, limit: number): number {
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return 0;
  if (limit <= 0) return 1;
  let inner = 0;
  const members = Array.isArray(value) ? value : Object.values(value);
  for (const member of members) {
    inner = Math.max(inner, jsonDepth(member, limit - 1));
    if (inner >= limit) break;
  }
  return inner + 1;
}
