/**
 * The bounded scan a query may ask for (`scan: true`) when no index serves
 * it: documents are read one by one in storage order and filtered by the
 * same rule an index walk applies (condition-match.ts), at most
 * `maxScanDocs` per call; the cursor says where the next call goes on. It is
 * the explicit, paged fallback, never a silent one.
 */
import { ConcordError } from "../errors.ts";
import type { IndexType, IndexValue } from "./index-definition.ts";
import { conditionMatches } from "./condition-match.ts";
import { isSystemId } from "./index-catalog.ts";
import type { StoredIndex } from "./index-layout.ts";
import { valueAtPath } from "./index-values.ts";
import type { Condition, QueryPage } from "./query-spec.ts";

export interface ScanDeps {
  /** Every live document's id, in one stable order. */
  docIds(): AsyncIterable<string>;
  /** Its JSON view; undefined when it is gone. */
  readJson(id: string): Promise<unknown>;
  indexes: readonly StoredIndex[];
}

/** Documents read per call, at most. */
export const maxScanDocs = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const hex = (text: string) => Array.from(encoder.encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text: string) => decoder.decode(Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16)));

export async function scanQuery(deps: ScanDeps, where: readonly Condition[], options: { limit: number; cursor?: string; idPrefix?: string; orderBy?: string }): Promise<QueryPage> {
  if (options.orderBy !== undefined) throw new ConcordError("invalid_argument", `ordering by ${options.orderBy} needs an order index, even with scan: true`);
  // The type each path is compared as: its index's, else the condition value's own.
  const typeOf = (c: Condition): IndexType =>
    deps.indexes.find((i) => i.def.path === c.path)?.def.type ?? (typeof (Array.isArray(c.value) ? c.value[0] : c.value) as IndexType);
  const after = options.cursor === undefined ? undefined : unhex(options.cursor);
  let skipping = after !== undefined;
  let read = 0;
  let lastRead: string | undefined;
  const ids: string[] = [];
  for await (const id of deps.docIds()) {
    if (skipping) {
      if (id === after) skipping = false;
      continue;
    }
    if (isSystemId(id) || (options.idPrefix !== undefined && !id.startsWith(options.idPrefix))) continue;
    // The next page starts after the last document read (a full page, or the read budget spent).
    if (lastRead !== undefined && (++read > maxScanDocs || ids.length === options.limit)) return { ids, cursor: hex(lastRead) };
    lastRead = id;
    const json = await deps.readJson(id);
    if (json !== undefined && where.every((c) => conditionMatches(typeOf(c), c, valueAtPath(json, c.path) as IndexValue))) ids.push(id);
  }
  return { ids };
}
