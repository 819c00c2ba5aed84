/**
 * Runs a planned query: walks the driving index in ascending key order from
 * the cursor, opens each entry's id, checks the remaining conditions on the
 * document's I record, and stops at a full page. The cursor is the last key
 * walked, so pages are stable while documents change: a document is listed
 * once per walk at most, at the place its current value puts it.
 *
 * The work of one call is bounded (`maxScannedEntries`): a page that would
 * need more returns what it found with a cursor to go on from.
 */
import { compareBytes, concatBytes, fromHex, startsWith, toHex } from "../storage/bytes.ts";
import type { Store } from "../storage/store.ts";
import type { IndexValue } from "./index-definition.ts";
import { equalityPrefix, indexEntriesPrefix, openEntry, openState, orderBytes, stateKey, entryDocHash, indexPrefix, type IndexKeys, type StoredIndex } from "./index-layout.ts";
import { conditionMatches } from "./condition-match.ts";
import type { Plan } from "./query-plan.ts";
import type { QueryPage } from "./query-spec.ts";

export interface RunOptions {
  limit: number;
  cursor?: string;
  /** Only ids starting with this (a token's prefix). */
  idPrefix?: string;
  /** Upper bound on entries walked in one call. Default 10 000. */
  maxScannedEntries?: number;
}

/** One contiguous piece of the walk: keys under `prefix`, optionally cut by a lower and an upper bound. */
interface Segment {
  prefix: Uint8Array;
  accepts?: (key: Uint8Array) => boolean;
  /** True once no later key of the segment can be accepted. */
  past?: (key: Uint8Array) => boolean;
}

function segments(keys: IndexKeys, plan: Plan): Segment[] {
  const { driver, bounds } = plan;
  const whole = [{ prefix: indexEntriesPrefix(driver) }];
  const points = bounds.find((b) => b.op === "==" || b.op === "in");
  const order = driver.def.kind === "order";
  const pointPrefix = (v: IndexValue) =>
    order ? concatBytes(Uint8Array.of(indexPrefix.order), driver.id, orderBytes(keys, driver, v)) : equalityPrefix(keys, driver, v);
  if (points) {
    const values = [...new Set(Array.isArray(points.value) ? points.value : [points.value])];
    // Disjoint prefixes, walked in ascending order: the whole walk ascends, so one key is a cursor.
    return values.map((v) => ({ prefix: pointPrefix(v) })).sort((a, b) => compareBytes(a.prefix, b.prefix));
  }
  if (!order) return whole;
  const prefix = bounds.find((b) => b.op === "prefix");
  if (prefix) return [{ prefix: concatBytes(Uint8Array.of(indexPrefix.order), driver.id, orderBytes(keys, driver, prefix.value as string, true)) }];
  const lows = bounds.filter((b) => b.op === ">" || b.op === ">=").map((b) => ({ key: pointPrefix(b.value as IndexValue), strict: b.op === ">" }));
  const highs = bounds.filter((b) => b.op === "<" || b.op === "<=").map((b) => ({ key: pointPrefix(b.value as IndexValue), strict: b.op === "<" }));
  return [{
    prefix: whole[0]!.prefix,
    // `key` is a value's prefix (with terminator): its entries are `key` + docHash, all above `key` itself.
    accepts: (k) => lows.every(({ key, strict }) => (strict ? !startsWith(k, key) && compareBytes(k, key) > 0 : compareBytes(k, key) >= 0)),
    past: (k) => highs.some(({ key, strict }) => (strict ? compareBytes(k, key) >= 0 : !startsWith(k, key) && compareBytes(k, key) > 0)),
  }];
}

export async function runPlan(store: Store, keys: IndexKeys, plan: Plan, options: RunOptions): Promise<QueryPage> {
  const after = options.cursor ? fromHex(options.cursor) : undefined;
  const budget = options.maxScannedEntries ?? 10_000;
  const ids: string[] = [];
  let scanned = 0;
  for (const segment of segments(keys, plan)) {
    if (after && compareBytes(segment.prefix, after) < 0 && !startsWith(after, segment.prefix)) continue; // wholly before the cursor
    for await (const [key, sealed] of store.scan(segment.prefix)) {
      if (after && compareBytes(key, after) <= 0) continue;
      if (segment.past?.(key)) break;
      if (++scanned > budget) return { ids, cursor: toHex(key.slice(0, -1)) }; // resume at this key (anything above its prefix)
      if (segment.accepts && !segment.accepts(key)) continue;
      const id = openEntry(keys, key, sealed);
      if (options.idPrefix !== undefined && !id.startsWith(options.idPrefix)) continue;
      if (!plan.exact && !(await checks(store, keys, plan, entryDocHash(key)))) continue;
      ids.push(id);
      if (ids.length === options.limit) return { ids, cursor: toHex(key) };
    }
  }
  return { ids };
}

/** Whether the document's stored values pass every condition. */
async function checks(store: Store, keys: IndexKeys, plan: Plan, docHash: Uint8Array): Promise<boolean> {
  const sealed = await store.get(stateKey(docHash));
  if (!sealed) return false;
  const { values } = openState(keys, docHash, sealed);
  return plan.checks.every(({ condition, index }) => conditionMatches(index.def.type, condition, values[index.hex]));
}

export type { StoredIndex };
