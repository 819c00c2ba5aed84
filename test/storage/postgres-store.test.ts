import { afterAll, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import { openPostgresStore, type PostgresStore } from "../../src/storage/postgres-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { runStoreConformance } from "../conformance/store.ts";
import { describeWithPostgres, dropSchema, pgQuery, pgTestUrl, testSchemaName } from "../helpers/postgres.ts";

const schema = testSchemaName("postgres-store.test.ts");
let tables = 0;

await describeWithPostgres("PostgreSQL store", () => {
  afterAll(() => dropSchema(schema));

  runStoreConformance("postgres", async () => {
    const table = `kv_${++tables}`;
    let store: Store = await openPostgresStore({ url: pgTestUrl, schema, table });
    return {
      store,
      reopen: async (): Promise<Store> => {
        await store.close();
        store = await openPostgresStore({ url: pgTestUrl, schema, table });
        return store;
      },
      cleanup: async (): Promise<void> => {
        await store.close();
        await pgQuery(`DROP TABLE IF EXISTS "${schema}"."${table}", "${schema}"."${table}_schema_version"`);
      },
    };
  });

  it("creates its tables once: concurrent opens all succeed, and only the first reports them created", async () => {
    const table = "kv_concurrent";
    const stores = await Promise.all(Array.from({ length: 6 }, () => openPostgresStore({ url: pgTestUrl, schema, table })));
    try {
      expect(stores.filter((s) => s.created).length).toBe(1);
      const versions = await pgQuery(`SELECT version FROM "${schema}"."${table}_schema_version"`);
      expect(versions.rows).toEqual([{ version: 1 }]);
      const again = await openPostgresStore({ url: pgTestUrl, schema, table });
      expect(again.created).toBe(false);
      await again.close();
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("refuses tables of a newer schema version, changing nothing", async () => {
    const table = "kv_future";
    const store = await openPostgresStore({ url: pgTestUrl, schema, table });
    await store.write([{ key: new Uint8Array([1]), value: new Uint8Array([2]) }]);
    await store.close();
    await pgQuery(`INSERT INTO "${schema}"."${table}_schema_version" (version) VALUES (99)`);
    const error = await openPostgresStore({ url: pgTestUrl, schema, table }).catch((e: unknown) => e);
    expect(isConcordError(error, "unsupported")).toBe(true);
    expect((error as Error).message).toContain("schema version 99");
    expect((await pgQuery(`SELECT count(*)::int AS n FROM "${schema}"."${table}"`)).rows[0].n).toBe(1);
  });

  it("rejects a schema or table name that is not a plain identifier", async () => {
    for (const bad of [{ schema: "Robert'); DROP" }, { table: "a.b" }, { schema: "" }]) {
      const error = await openPostgresStore({ url: pgTestUrl, ...bad }).catch((e: unknown) => e);
      expect(isConcordError(error, "invalid_argument"), String(error)).toBe(true);
    }
  });

  it("says unavailable, naming the server without its password, when PostgreSQL cannot be reached", async () => {
    const error = await openPostgresStore({ url: "postgres://someone:hunter2@127.0.0.1:1/test", schema, connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(isConcordError(error, "unavailable"), String(error)).toBe(true);
    expect((error as Error).message).toContain("127.0.0.1:1");
    expect((error as Error).message).not.toContain("hunter2");
  });

  it("stores keys and values as raw bytea, in unsigned byte order", async () => {
    const table = "kv_raw";
    const store: PostgresStore = await openPostgresStore({ url: pgTestUrl, schema, table });
    try {
      await store.write([0xff, 0x00, 0x80].map((b) => ({ key: new Uint8Array([b, b]), value: new Uint8Array([b]) })));
      const rows = await pgQuery(`SELECT encode(k, 'hex') AS k, encode(v, 'hex') AS v FROM "${schema}"."${table}" ORDER BY k`);
      expect(rows.rows).toEqual([{ k: "0000", v: "00" }, { k: "8080", v: "80" }, { k: "ffff", v: "ff" }]);
    } finally {
      await store.close();
    }
  });
});
