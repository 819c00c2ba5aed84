/**
 * Creates or migrates the PostgreSQL store's tables on open. Idempotent, and
 * safe when several processes start at once: the whole migration is one
 * transaction under a transaction-scoped advisory lock keyed by the schema
 * and table, so concurrent starters run it one after another and the later
 * ones find it done. (CockroachDB accepts pg_advisory_xact_lock but does not
 * lock; there the version table's primary key makes a concurrent duplicate
 * migration fail, and the retry below finds it applied.)
 */
import { ConcordError } from "../errors.ts";
import type { StoreSql, StoreTables } from "./postgres-sql.ts";

/** A connection for one transaction. */
export interface MigrationClient {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/** The schema version this build writes. A database at a newer version is refused. */
export function latestVersion(sql: StoreSql): number {
  return sql.migrations.length;
}

/** Advisory lock keys: a fixed class ("Conc") and a 32-bit FNV-1a hash of schema.table. */
const lockClass = 0x436f6e63;
function lockKey(tables: StoreTables): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`${tables.schema}.${tables.table}`)) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash | 0; // int4, signed
}

/** Brings the tables to the latest version; returns the version found before (0: they were just created). */
export async function migrateSchema(client: MigrationClient, sql: StoreSql, tables: StoreTables): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await migrateOnce(client, sql, tables);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // 23505 unique_violation, 40001 serialization_failure: a concurrent starter won; run again to see its work.
      if (attempt < 2 && (code === "23505" || code === "40001")) continue;
      throw error;
    }
  }
}

async function migrateOnce(client: MigrationClient, sql: StoreSql, tables: StoreTables): Promise<number> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1::int4, $2::int4)", [lockClass, lockKey(tables)]);
    await client.query(sql.createSchema);
    await client.query(sql.createVersions);
    const found = Number((await client.query(sql.currentVersion)).rows[0]?.["version"] ?? 0);
    if (found > latestVersion(sql)) {
      throw new ConcordError("unsupported", `the PostgreSQL store ${tables.schema}.${tables.table} is at schema version ${found}; this build knows up to ${latestVersion(sql)}: upgrade Concord`);
    }
    for (let version = found + 1; version <= latestVersion(sql); version++) {
      for (const statement of sql.migrations[version - 1]!) await client.query(statement);
      await client.query(sql.recordVersion, [version]);
    }
    await client.query("COMMIT");
    return found;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}
