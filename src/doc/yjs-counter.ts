/**
 * A counter for Yjs, which has none of its own: a Y.Map holding one entry
 * per writer (the Yjs client id of the document instance that incremented),
 * each the running total of that writer's increments, plus a marker entry
 * that says "this map is a counter". The value is the sum of the entries.
 * Only one instance ever writes an entry, so last-writer-wins on each entry
 * loses nothing, and concurrent increments from any number of regions add up.
 *
 * Stock Yjs clients see the map as it is: `{ "$counter": 1, "<client>": n, ... }`;
 * Concord's JSON view shows the sum.
 */
import * as Y from "yjs";

/** The marker entry's key (its value is the format version, 1). */
export const counterMarker = "$counter";

/** True when `type` is a Y.Map marked as a counter. */
export function isYjsCounter(type: unknown): type is Y.Map<unknown> {
  if (!(type instanceof Y.Map)) return false;
  const marker = type._map.get(counterMarker);
  return marker !== undefined && !marker.deleted;
}

/** The counter's value: the sum of its writers' totals (non-numbers ignored). */
export function yjsCounterTotal(counter: Y.AbstractType<any>): number {
  let total = 0;
  for (const [key, item] of counter._map) {
    if (key === counterMarker || item.deleted) continue;
    const value = item.content.getContent()[item.length - 1];
    if (typeof value === "number" && Number.isFinite(value)) total += value;
  }
  return total;
}

/** Adds `by` to this document instance's own entry. */
export function incrementYjsCounter(doc: Y.Doc, counter: Y.Map<unknown>, by: number): void {
  const key = String(doc.clientID);
  const own = counter.get(key);
  counter.set(key, (typeof own === "number" ? own : 0) + by);
}
