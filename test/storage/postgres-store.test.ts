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

  it("lets exactly one of several processes' conditional writes win, for a key present and for a key absent", async () => {
    const table = "kv_racing_writers";
    // One store per "process": each has its own pool and writer queue, so the race is PostgreSQL's to decide.
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore({ url: pgTestUrl, schema, table })));
    try {
      const present = new Uint8Array([1]);
      const absent = new Uint8Array([2]);
      for (let round = 1; round <= 20; round++) {
        const [key, before] = round % 2 === 0 ? [present, new Uint8Array([0])] : [absent, undefined];
        await stores[0]!.write([{ key, value: before }]);
        const outcomes = await Promise.allSettled(stores.map((store, i) => store.write(
          [{ key, value: new Uint8Array([round]) }, { key: new Uint8Array([3, round, i]), value: new Uint8Array([i]) }],
          { expect: [{ key, value: before }] },
        )));
        const won = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [i] : []));
        for (const o of outcomes) if (o.status === "rejected") expect(isConcordError(o.reason, "conflict"), String(o.reason)).toBe(true);
        expect(won.length, `round ${round}`).toBe(1);
        // Nothing of a losing batch landed: only the winner's side key is there.
        for (let i = 0; i < stores.length; i++) {
          expect(await stores[0]!.get(new Uint8Array([3, round, i])), `round ${round} writer ${i}`).toEqual(i === won[0] ? new Uint8Array([i]) : undefined);
        }
        expect(await stores[0]!.get(key)).toEqual(new Uint8Array([round]));
      }
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

  it("answers 'unavailable' when its connections are terminated under load, loses no acknowledged write, and recovers", async () => {
    const table = "kv_terminated";
    const applicationName = `concord-test-${schema.slice(-12)}`;
    const store = await openPostgresStore({ url: pgTestUrl, schema, table, applicationName });
    const terminate = async () => (await pgQuery("SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1", [applicationName])).rows.length;
    const key = (writer: number, i: number) => new Uint8Array([writer, i >> 8, i & 0xff]);
    const acked = new Map<string, number>();
    const failures: unknown[] = [];
    let waiting: { atLeast: number; wake: () => void } | undefined;
    const noteAck = () => {
      if (waiting && acked.size >= waiting.atLeast) waiting.wake();
    };
    const writers = Array.from({ length: 6 }, async (_, writer) => {
      for (let i = 0; i < 200; i++) {
        try {
          await store.write([{ key: key(writer, i), value: new Uint8Array([i & 0xff, writer]) }]);
          acked.set(`${writer}/${i}`, i);
          noteAck();
        } catch (error) {
          failures.push(error);
        }
      }
    });
    const killed: number[] = [];
    for (let round = 1; round <= 4; round++) {
      await new Promise<void>((wake) => {
        waiting = { atLeast: round * 200, wake };
        noteAck();
      });
      killed.push(await terminate());
    }
    await Promise.all(writers);
    console.log(`terminated ${killed.join("+")} connections in 4 rounds; ${acked.size} writes acknowledged, ${failures.length} failed`);
    expect(killed.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const failure of failures) {
      expect(isConcordError(failure, "unavailable"), String(failure)).toBe(true);
      expect((failure as Error).message).toContain(schema);
    }
    for (const id of acked.keys()) {
      const [writer, i] = id.split("/").map(Number) as [number, number];
      expect(await store.get(key(writer, i))).toEqual(new Uint8Array([i & 0xff, writer]));
    }
    // A snapshot whose connection is terminated cannot go on (a new connection would be a new snapshot).
    const snapshot = await store.snapshot();
    expect(await terminate()).toBeGreaterThan(0);
    const broken = await (async () => {
      for await (const _ of snapshot.entries()) void _;
    })().catch((e: unknown) => e);
    expect(isConcordError(broken, "unavailable"), String(broken)).toBe(true);
    expect((broken as Error).message).toContain("connection to PostgreSQL was lost");
    snapshot.release();
    // Later calls reconnect.
    await store.write([{ key: new Uint8Array([0xee]), value: new Uint8Array([1]) }]);
    expect(await store.get(new Uint8Array([0xee]))).toEqual(new Uint8Array([1]));
    await store.close();
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
