/**
 * MembershipStore (membership.ts) on PostgreSQL: three small tables in the
 * region's schema, next to the store's, created on open (idempotent, under a
 * transaction-scoped advisory lock, as postgres-schema.ts does):
 *
 *   region_epoch (id 1, epoch)        the epoch sequence: one row, bumped with
 *                                     GREATEST(epoch + 1, atLeast) under its row lock,
 *                                     so no two processes ever draw the same epoch
 *   region_members (epoch, name, url, started_at, heartbeat_at)
 *   region_leases (duty, holder, token, expires_at)
 *
 * Every time is the database's (now()): processes whose clocks disagree still
 * agree on who is silent and whose lease ran out. The statements are plain
 * INSERT … ON CONFLICT / UPDATE, which CockroachDB and YugabyteDB accept.
 * Only epochs, host names, URLs and duty names are stored: nothing a user
 * wrote.
 */
import pg from "pg";
import { ConcordError } from "../errors.ts";
import type { Lease, MembershipStore } from "./membership.ts";
import { redactUrl, unavailable } from "./postgres-errors.ts";
import { checkIdentifier } from "./postgres-sql.ts";

export interface PostgresMembershipOptions {
  url: string;
  /** The region's schema (the store's). */
  schema: string;
  applicationName?: string;
  /** Default 3000: a heartbeat that cannot get through in this long fails. */
  connectTimeoutMs?: number;
}

/** Advisory lock class of these tables' creation ("Memb"); the store's migration uses another. */
const lockClass = 0x4d656d62;

function statements(schema: string) {
  const s = `"${schema}"`;
  return {
    create: [
      `CREATE SCHEMA IF NOT EXISTS ${s}`,
      `CREATE TABLE IF NOT EXISTS ${s}.region_epoch (id int PRIMARY KEY, epoch bigint NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${s}.region_members (epoch bigint PRIMARY KEY, name text NOT NULL, url text NOT NULL, started_at timestamptz NOT NULL, heartbeat_at timestamptz NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${s}.region_leases (duty text PRIMARY KEY, holder bigint NOT NULL, token bigint NOT NULL, expires_at timestamptz NOT NULL)`,
    ],
    draw: `INSERT INTO ${s}.region_epoch (id, epoch) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET epoch = GREATEST(region_epoch.epoch + 1, EXCLUDED.epoch) RETURNING epoch`,
    register: `INSERT INTO ${s}.region_members (epoch, name, url, started_at, heartbeat_at) VALUES ($1, $2, $3, now(), now())
      ON CONFLICT (epoch) DO UPDATE SET heartbeat_at = now(), url = EXCLUDED.url, name = EXCLUDED.name`,
    leave: `DELETE FROM ${s}.region_members WHERE epoch = $1`,
    release: `UPDATE ${s}.region_leases SET expires_at = '-infinity' WHERE holder = $1`,
    // Taken when free or expired (a new holder: token + 1), renewed by its holder; otherwise left alone.
    acquire: `INSERT INTO ${s}.region_leases (duty, holder, token, expires_at) VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
      ON CONFLICT (duty) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
        token = CASE WHEN region_leases.holder = EXCLUDED.holder THEN region_leases.token ELSE region_leases.token + 1 END
      WHERE region_leases.holder = EXCLUDED.holder OR region_leases.expires_at < now()`,
    lease: `SELECT duty, holder, token, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in FROM ${s}.region_leases WHERE duty = $1`,
    members: `SELECT epoch, name, url, (extract(epoch FROM started_at) * 1000)::float8 AS started, (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS silent FROM ${s}.region_members ORDER BY epoch`,
    leases: `SELECT duty, holder, token, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in FROM ${s}.region_leases ORDER BY duty`,
    regionEpoch: `SELECT epoch FROM ${s}.region_epoch WHERE id = 1`,
    collect: `DELETE FROM ${s}.region_members WHERE heartbeat_at < now() - $1 * interval '1 millisecond'`,
  };
}

const leaseOf = (row: Record<string, unknown>): Lease => ({
  duty: String(row["duty"]), holder: Number(row["holder"]), token: Number(row["token"]),
  // '-infinity' (released) comes back as -Infinity or null depending on the server: both are "expired".
  expiresInMs: Number.isFinite(Number(row["expires_in"])) && row["expires_in"] !== null ? Number(row["expires_in"]) : -1,
});

export async function openPostgresMembership(options: PostgresMembershipOptions): Promise<MembershipStore> {
  const schema = checkIdentifier(options.schema, "schema");
  const what = `the region membership in schema ${schema} at ${redactUrl(options.url)}`;
  const sql = statements(schema);
  const pool = new pg.Pool({
    connectionString: options.url, application_name: options.applicationName ?? "concord", max: 2,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000, keepAlive: true,
  });
  pool.on("error", () => undefined); // an idle connection that died: the next query opens another
  const query = async (action: string, text: string, values: unknown[] = []) => {
    try {
      return (await pool.query(text, values)).rows as Array<Record<string, unknown>>;
    } catch (error) {
      throw unavailable(action, what, error);
    }
  };
  const client = await pool.connect().catch((error: unknown) => {
    void pool.end();
    throw unavailable("opening", what, error);
  });
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1::int4, hashtext($2))", [lockClass, schema]);
    for (const statement of sql.create) await client.query(statement);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    client.release();
    await pool.end();
    throw unavailable("creating the tables of", what, error);
  }
  client.release();

  return {
    async join({ name, url, atLeast }) {
      const rows = await query("drawing an epoch from", sql.draw, [atLeast]);
      const epoch = Number(rows[0]!["epoch"]);
      if (!Number.isSafeInteger(epoch) || epoch >= 2 ** 32) throw new ConcordError("internal", `the region's epoch sequence reached ${epoch}`);
      await query("registering in", sql.register, [epoch, name, url]);
      return epoch;
    },
    async heartbeat(epoch, { name, url }) {
      await query("a heartbeat in", sql.register, [epoch, name, url]);
    },
    async leave(epoch) {
      await query("leaving", sql.release, [epoch]);
      await query("leaving", sql.leave, [epoch]);
    },
    async acquire(duty, holder, ttlMs) {
      await query("taking a lease in", sql.acquire, [duty, holder, ttlMs]);
      return leaseOf((await query("reading a lease in", sql.lease, [duty]))[0]!);
    },
    async view() {
      const [members, leases, epoch] = await Promise.all([query("reading", sql.members), query("reading", sql.leases), query("reading", sql.regionEpoch)]);
      return {
        members: members.map((r) => ({ epoch: Number(r["epoch"]), name: String(r["name"]), url: String(r["url"]), startedAt: Number(r["started"]), silentMs: Number(r["silent"]) })),
        leases: leases.map(leaseOf),
        regionEpoch: Number(epoch[0]?.["epoch"] ?? 0),
      };
    },
    async collect(ms) {
      await query("collecting silent members of", sql.collect, [ms]);
    },
    close: () => pool.end(),
  };
}
