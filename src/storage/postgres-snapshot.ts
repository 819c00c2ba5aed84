/**
 * A StoreSnapshot of the PostgreSQL store: one REPEATABLE READ, READ ONLY
 * transaction on a connection of its own, held until release(). Its first
 * statement (the count) fixes the snapshot, before the promise resolves, so
 * the view holds every batch whose write had resolved by then and nothing
 * later. PostgreSQL keeps the rows the view needs (VACUUM waits for the
 * oldest snapshot), so hold it for a backup, not for hours.
 */
import { ConcordError } from "../errors.ts";
import { pagedEntries } from "./postgres-pages.ts";
import type { StoreSql } from "./postgres-sql.ts";
import { closedError } from "./store-checks.ts";
import type { StoreSnapshot } from "./store.ts";

export interface SnapshotClient {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  release(error?: Error | boolean): void;
}

export interface SnapshotHooks {
  what: string;
  /** Throws once the store is closing. */
  ensureOpen: () => void;
  fail: (action: string, cause: unknown) => ConcordError;
  onRelease: () => void;
}

/** Opens the transaction on `client` (which the snapshot then owns) and counts its entries. */
export async function openSnapshot(client: SnapshotClient, sql: StoreSql, hooks: SnapshotHooks): Promise<StoreSnapshot> {
  let count: number;
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    count = Number((await client.query(sql.count)).rows[0]?.["n"]);
  } catch (cause) {
    client.release(true);
    throw hooks.fail("a snapshot of", cause);
  }
  let released = false;
  let broken = false;
  const check = (): void => {
    hooks.ensureOpen();
    if (released) throw closedError(`a released snapshot of ${hooks.what}`);
  };
  return {
    async count() {
      check();
      return count;
    },
    async *entries() {
      const run = async (text: string, values: unknown[]) => {
        try {
          return (await client.query(text, values)).rows;
        } catch (cause) {
          // No retry here: a new connection would be a new snapshot.
          broken = true;
          throw hooks.fail("reading a snapshot of", cause);
        }
      };
      yield* pagedEntries(sql, { start: new Uint8Array(0), end: undefined }, run, check);
    },
    release() {
      if (released) return;
      released = true;
      hooks.onRelease();
      if (broken) return client.release(true);
      // Read only: ROLLBACK and COMMIT are the same; the connection goes back to the pool once it is out.
      client.query("ROLLBACK").then(
        () => client.release(),
        () => client.release(true),
      );
    },
  };
}
