/**
 * The SQL text of the PostgreSQL store, in one place, built from checked
 * identifiers. Kept to what the PostgreSQL-wire distributed engines
 * (CockroachDB, YugabyteDB, Citus) also accept: bytea columns, a primary key,
 * INSERT ... ON CONFLICT, = ANY($1), a window sum, LIMIT. Where a choice
 * matters for those engines, the comment says so.
 */
import { ConcordError } from "../errors.ts";

/** Lower-case SQL identifiers only: no quoting surprises, the same name in every engine. */
const identifierPattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws ConcordError("invalid_argument") unless `name` is a plain lower-case identifier. */
export function checkIdentifier(name: unknown, what: string): string {
  if (typeof name !== "string" || !identifierPattern.test(name)) {
    throw new ConcordError("invalid_argument", `${what} must be a lower-case SQL identifier (a-z, 0-9, _; at most 63), got ${JSON.stringify(name)}`);
  }
  return name;
}

/** The tables of one store: `schema.table` holds the entries, `schema.table_schema_version` the migrations applied. */
export interface StoreTables {
  schema: string;
  table: string;
}

const quoted = (name: string): string => `"${name}"`;

/** Statements over one store's tables. */
export function storeSql(tables: StoreTables) {
  const schema = quoted(tables.schema);
  const kv = `${schema}.${quoted(tables.table)}`;
  const versions = `${schema}.${quoted(`${tables.table}_schema_version`)}`;
  return {
    createSchema: `CREATE SCHEMA IF NOT EXISTS ${schema}`,
    createVersions: `CREATE TABLE IF NOT EXISTS ${versions} (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    currentVersion: `SELECT COALESCE(MAX(version), 0) AS version FROM ${versions}`,
    recordVersion: `INSERT INTO ${versions} (version) VALUES ($1)`,
    /** Migrations in order; index 0 brings the schema to version 1. */
    migrations: [
      // bytea compares as unsigned bytes with a proper prefix first (byteacmp: memcmp, then length), the
      // Store contract's order, whatever the database's collation. CockroachDB's BYTES orders the same way.
      [`CREATE TABLE IF NOT EXISTS ${kv} (k BYTEA PRIMARY KEY, v BYTEA NOT NULL)`],
    ] as const,
    get: `SELECT v FROM ${kv} WHERE k = $1`,
    /**
     * The current values of the keys in the bytea[] $1, row-locked until the transaction ends: the check of
     * a conditional write (postgres-writer.ts). FOR UPDATE is accepted by CockroachDB and YugabyteDB too.
     */
    lockKeys: `SELECT k, v FROM ${kv} WHERE k = ANY($1::bytea[]) FOR UPDATE`,
    count: `SELECT count(*) AS n FROM ${kv}`,
    /** Deletes every key in the bytea[] $1. */
    deleteKeys: `DELETE FROM ${kv} WHERE k = ANY($1::bytea[])`,
    /** Upserts `rows` (key, value) pairs given as $1, $2, ... */
    upsert: (rows: number): string => {
      const values: string[] = [];
      for (let i = 0; i < rows; i++) values.push(`($${2 * i + 1}::bytea, $${2 * i + 2}::bytea)`);
      return `INSERT INTO ${kv} (k, v) VALUES ${values.join(", ")} ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`;
    },
    page: (range: PageRange): string => pageQuery(kv, range),
  };
}

export type StoreSql = ReturnType<typeof storeSql>;

/** Which bounds a page query has: the start ($1) inclusive or exclusive, and an end ($2) or none. */
export interface PageRange {
  exclusiveStart: boolean;
  hasEnd: boolean;
}

/**
 * One page of entries in key order from $1, at most $limit rows, cut after the
 * row that brings the page to $bytes bytes of values (the first row always
 * comes, however large). `running` is the sum of value bytes up to and
 * including the row: the reader uses it to tell a page cut by bytes from the
 * last page. The window sum streams over the index scan in key order, so the
 * LIMIT stops it early; octet_length of a TOASTed value reads its header,
 * not the value, and values past the cut are never sent.
 */
function pageQuery(kv: string, range: PageRange): string {
  const start = range.exclusiveStart ? "k > $1" : "k >= $1";
  const end = range.hasEnd ? " AND k < $2" : "";
  const limit = range.hasEnd ? "$3" : "$2";
  const bytes = range.hasEnd ? "$4" : "$3";
  return (
    `SELECT k, v, running FROM (` +
    `SELECT k, v, sum(octet_length(v)) OVER (ORDER BY k ROWS UNBOUNDED PRECEDING) AS running ` +
    `FROM ${kv} WHERE ${start}${end} ORDER BY k LIMIT ${limit}` +
    `) page WHERE running - octet_length(v) < ${bytes} ORDER BY k`
  );
}
