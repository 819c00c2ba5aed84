/**
 * A Store on PostgreSQL through node-postgres (`pg`): the store of a region
 * that outgrows one machine. One table of bytea keys and sealed bytea values,
 * in a schema of its own; created or migrated on open (postgres-schema.ts).
 * Only keyed hashes and sealed records reach the database, as with LMDB.
 *
 * - write: group commit through one queue, one transaction at a time
 *   (postgres-writer.ts); resolves after COMMIT.
 * - get, scan: on the pool, in pages (postgres-pages.ts); each read is
 *   retried once on a fresh connection when its connection had died.
 * - snapshot: a REPEATABLE READ transaction on its own connection
 *   (postgres-snapshot.ts).
 * - A lost or refused connection is ConcordError("unavailable") naming the
 *   server; the pool drops the broken connection and opens a new one for
 *   the next call, so calls succeed again once PostgreSQL is back.
 *
 * Several processes may open the same tables (the schema is built for it:
 * no sequence lives in a process); this adapter alone does not serialise
 * their writes to one document, which is the region's job.
 */
import pg from "pg";
import { ConcordError } from "../errors.ts";
import { prefixEnd } from "./bytes.ts";
import { isConnectionError, redactUrl, unavailable } from "./postgres-errors.ts";
import { pagedEntries, type PagedRange } from "./postgres-pages.ts";
import { migrateSchema } from "./postgres-schema.ts";
import { openSnapshot } from "./postgres-snapshot.ts";
import { checkIdentifier, storeSql } from "./postgres-sql.ts";
import { createWriter, type QueuedBatch } from "./postgres-writer.ts";
import { checkExpectations } from "./store-expect.ts";
import { checkBatch, checkKey, checkPrefix, closedError } from "./store-checks.ts";
import type { Store, StoreSnapshot } from "./store.ts";

export interface PostgresStoreOptions {
  /** postgres://user[:password]@host[:port]/database (anything node-postgres accepts). */
  url: string;
  /** Schema holding the tables, created if missing. Default "concord". */
  schema?: string;
  /** The entries table; its migrations live in TABLE_schema_version. Default "kv". */
  table?: string;
  /** Shown in pg_stat_activity. Default "concord". */
  applicationName?: string;
  /** Connections in the pool at most (one goes to the writer, one to each snapshot held). Default 8. */
  maxConnections?: number;
  /** How long to wait for a connection before "unavailable", ms. Default 5000. */
  connectTimeoutMs?: number;
}

/** A PostgreSQL store, and whether its tables were created by this open (a new, empty store). */
export interface PostgresStore extends Store {
  readonly created: boolean;
  /** Where it is, for messages: the redacted URL, schema and table. */
  readonly where: string;
}

const positiveInt = (value: number | undefined, name: string, fallback: number): number => {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new ConcordError("invalid_argument", `${name} must be a positive integer, got ${value}`);
  return value;
};

/**
 * Opens (creating or migrating its tables) the store described by `options`.
 * Throws ConcordError("invalid_argument") for bad options, "unavailable" when
 * PostgreSQL cannot be reached or refuses the migration, "unsupported" for
 * tables of a newer schema version, and "invalid_argument" when the server's
 * synchronous_commit is off (a COMMIT would not mean durable).
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  if (typeof options.url !== "string" || !/^postgres(ql)?:\/\//.test(options.url)) {
    throw new ConcordError("invalid_argument", "openPostgresStore needs a postgres:// URL");
  }
  const tables = { schema: checkIdentifier(options.schema ?? "concord", "schema"), table: checkIdentifier(options.table ?? "kv", "table") };
  const what = `the PostgreSQL store ${tables.schema}.${tables.table} at ${redactUrl(options.url)}`;
  const pool = new pg.Pool({
    connectionString: options.url,
    application_name: options.applicationName ?? "concord",
    max: positiveInt(options.maxConnections, "maxConnections", 8),
    connectionTimeoutMillis: positiveInt(options.connectTimeoutMs, "connectTimeoutMs", 5000),
    keepAlive: true,
  });
  // An idle pooled connection that dies (server restart, pg_terminate_backend) emits here; the pool
  // has already dropped it, and the next call opens a fresh one. Without a listener Node would crash.
  pool.on("error", () => {});
  const sql = storeSql(tables);
  let found: number;
  try {
    const client = await checkout(pool);
    try {
      const setting = (await client.query("SELECT current_setting('synchronous_commit') AS s")).rows[0]?.["s"];
      if (setting === "off") throw new ConcordError("invalid_argument", `${what}: synchronous_commit is off, so a COMMIT would not mean durable; turn it on`);
      found = await migrateSchema(client, sql, tables);
      client.release();
    } catch (error) {
      client.release(true);
      throw error;
    }
  } catch (error) {
    await pool.end().catch(() => {});
    if (error instanceof ConcordError) throw error;
    throw unavailable("opening", what, error);
  }
  return wrapPool(pool, sql, what, found === 0);
}

/** Connections that have our error listener (see checkout). */
const guarded = new WeakSet<pg.PoolClient>();

/**
 * A pooled connection for a transaction or a snapshot. A connection that dies while checked out
 * emits "error" on itself, not on the pool, and an EventEmitter without a listener would crash the
 * process; its queries fail anyway, which is where the store reports it.
 */
async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  if (!guarded.has(client)) {
    guarded.add(client);
    client.on("error", () => {});
  }
  return client;
}

function wrapPool(pool: pg.Pool, sql: ReturnType<typeof storeSql>, what: string, created: boolean): PostgresStore {
  let closing: Promise<void> | undefined;
  const snapshots = new Set<StoreSnapshot>();
  const ensureOpen = (): void => {
    if (closing !== undefined) throw closedError(what);
  };
  const fail = (action: string, cause: unknown): ConcordError => unavailable(action, what, cause);
  /** A read on the pool, retried once when its connection had died (reads are idempotent). */
  const read = async (action: string, text: string, values: unknown[]): Promise<Array<Record<string, unknown>>> => {
    try {
      return (await pool.query(text, values)).rows;
    } catch (first) {
      if (!isConnectionError(first) || closing) throw fail(action, first);
      try {
        return (await pool.query(text, values)).rows;
      } catch (second) {
        throw fail(action, second);
      }
    }
  };
  const writer = createWriter(sql, () => checkout(pool), (cause) => fail("a write to", cause));

  return {
    created,
    where: what,
    async get(key) {
      ensureOpen();
      checkKey(key);
      const rows = await read("a read from", sql.get, [Buffer.from(key)]);
      const value = rows[0]?.["v"] as Buffer | undefined;
      return value === undefined ? undefined : new Uint8Array(value);
    },

    async write(batch, options) {
      ensureOpen();
      checkBatch(batch);
      const expect = checkExpectations(options?.expect);
      if (batch.length === 0 && expect.length === 0) return;
      // Copies now: the caller may reuse its arrays as soon as write() returns.
      const queued: QueuedBatch = batch.map((e) => [Buffer.from(e.key), e.value === undefined ? null : Buffer.from(e.value)] as const);
      await writer.write(queued, expect.map((e) => [Buffer.from(e.key), e.value === undefined ? null : Buffer.from(e.value)] as const));
    },

    async *scan(prefix) {
      ensureOpen();
      checkPrefix(prefix);
      const range: PagedRange = { start: prefix.slice(), end: prefixEnd(prefix) };
      yield* pagedEntries(sql, range, (text, values) => read("a scan of", text, values), ensureOpen);
    },

    async snapshot() {
      ensureOpen();
      const client = await checkout(pool).catch((cause: unknown) => {
        throw fail("a snapshot of", cause);
      });
      const snapshot = await openSnapshot(client, sql, { what, ensureOpen, fail, onRelease: () => snapshots.delete(snapshot) });
      snapshots.add(snapshot);
      return snapshot;
    },

    close() {
      closing ??= (async () => {
        for (const snapshot of snapshots) snapshot.release();
        await writer.drained();
        await pool.end().catch((cause: unknown) => {
          throw fail("closing", cause);
        });
      })();
      return closing;
    },
  };
}
