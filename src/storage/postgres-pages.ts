/**
 * Paged reads of the PostgreSQL store: the entries of a key range in key
 * order, a bounded page per query, so no query holds a cursor (or a
 * connection) while the consumer awaits. Used by scan() on the pool and by a
 * snapshot on its own REPEATABLE READ transaction.
 */
import { copyBytes } from "./bytes.ts";
import type { StoreSql } from "./postgres-sql.ts";

/** Pages end at this many entries or once this many value bytes are in, whichever comes first. */
export const pageEntries = 256;
export const pageBytes = 1 << 20;

/** The one thing pages need from a connection or a pool. */
export interface SqlRunner {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

export interface PagedRange {
  /** First key (inclusive). */
  start: Uint8Array;
  /** End key (exclusive); none: to the last key. */
  end: Uint8Array | undefined;
}

/**
 * Yields the range's entries. `run` executes one page query (the caller adds
 * retries and error mapping); `check` runs before every page and every entry
 * and throws once the reader must stop.
 */
export async function* pagedEntries(
  sql: StoreSql,
  range: PagedRange,
  run: (text: string, values: unknown[]) => Promise<Array<Record<string, unknown>>>,
  check: () => void,
): AsyncGenerator<[Uint8Array, Uint8Array]> {
  let start = Buffer.from(range.start);
  const end = range.end && Buffer.from(range.end);
  let exclusiveStart = false;
  for (;;) {
    check();
    const text = sql.page({ exclusiveStart, hasEnd: end !== undefined });
    const rows = await run(text, end ? [start, end, pageEntries, pageBytes] : [start, pageEntries, pageBytes]);
    const page = rows.map((row): [Uint8Array, Uint8Array] => [copyBytes(row["k"] as Buffer), copyBytes(row["v"] as Buffer)]);
    const last = rows[rows.length - 1];
    for (const entry of page) {
      check();
      yield entry;
    }
    if (!last) return;
    // Fewer rows than the limit, and none cut by bytes: the range is done.
    if (rows.length < pageEntries && Number(last["running"]) < pageBytes) return;
    start = Buffer.from(last["k"] as Buffer);
    exclusiveStart = true;
  }
}
