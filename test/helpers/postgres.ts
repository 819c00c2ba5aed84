/**
 * PostgreSQL for tests. The server comes from $CONCORD_TEST_PG (default
 * postgres://postgres@127.0.0.1:5432/test). Where it cannot be reached, the
 * PostgreSQL tests are skipped with the reason printed, unless
 * CONCORD_REQUIRE_PG=1 (set by .ci/run), which turns the skip into a failure.
 * Each test file works in a schema of its own, with a random name it prints,
 * and drops it at the end.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, it } from "vitest";

export const pgTestUrl = process.env["CONCORD_TEST_PG"] ?? "postgres://postgres@127.0.0.1:5432/test";
const required = process.env["CONCORD_REQUIRE_PG"] === "1";

/** Why PostgreSQL cannot be used, or undefined when it answers. */
export async function postgresUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: pgTestUrl, connectionTimeoutMillis: 3000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${pgTestUrl} is not reachable (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Runs `body` (which declares the tests) when PostgreSQL answers; else one
 * skipped test, or with CONCORD_REQUIRE_PG=1 one failing test, saying why.
 */
export async function describeWithPostgres(name: string, body: () => void): Promise<void> {
  const reason = await postgresUnavailable();
  if (reason === undefined) {
    describe(name, body);
    return;
  }
  if (required) {
    describe(name, () => it("needs PostgreSQL (CONCORD_REQUIRE_PG=1)", () => {
      throw new Error(`${reason}; CONCORD_REQUIRE_PG=1 makes this a failure (start it: .ci/run does)`);
    }));
    return;
  }
  console.warn(`skipped ${name}: ${reason} (set CONCORD_TEST_PG to point elsewhere)`);
  describe.skip(`${name} (skipped: ${reason})`, body);
}

/** A fresh schema name for one test file, printed so a leftover can be found. */
export function testSchemaName(file: string): string {
  const name = `concord_test_${randomBytes(6).toString("hex")}`;
  console.log(`${file}: PostgreSQL schema ${name} at ${pgTestUrl}`);
  return name;
}

/** Runs one statement on a connection of its own (setup, inspection, cleanup). */
export async function pgQuery(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: pgTestUrl });
  client.on("error", () => {});
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
