/**
 * One region as three real `concord serve` processes over one PostgreSQL
 * schema, with writers PATCHing the same two documents (one Yjs, one
 * Automerge) through every process, while every PostgreSQL connection of the
 * region's processes is terminated, again and again: PostgreSQL gone from
 * under them, as in a restart of the server (which is shared with other
 * tests on this machine, so it is not restarted itself). Refused writes are
 * 503 "unavailable", writes succeed again afterwards, and every acknowledged
 * entry is on every process. Skipped without PostgreSQL, unless
 * CONCORD_REQUIRE_PG=1.
 */
import { randomBytes } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { describeWithPostgres, dropSchema, pgQuery, testSchemaName } from "../helpers/postgres.ts";
import { converged, json, startPgRegion, writeLoad, type PgRegion } from "./postgres-cluster.ts";
import { poll } from "./processes.ts";

const schema = testSchemaName("postgres-terminate.test.ts");
// Its own region id: the processes' application_name is concord-<region>, and only theirs are terminated.
const region = `pgterm-${randomBytes(4).toString("hex")}`;
const rounds = 4;

await describeWithPostgres("a region of three processes on PostgreSQL whose connections are all terminated under write load", () => {
  let r: PgRegion | undefined;
  afterAll(async () => {
    await r?.stop();
    await dropSchema(schema);
  });

  it("answers 503 unavailable meanwhile, recovers, and loses no acknowledged write", async () => {
    r = await startPgRegion({ schema, count: 3, id: region, prefix: "concord-pg-terminate-", logLevel: "warn" });
    const docs = { "term-yjs": "yjs", "term-am": "automerge" } as const;
    for (const [doc, kind] of Object.entries(docs)) expect((await json(`${r.at(0)}/v1/docs/${doc}`, { method: "PUT", json: { kind } })).status).toBe(201);
    const load = writeLoad(r.at, Object.keys(docs), 6, 3);
    let terminated = 0;
    try {
      for (let round = 0; round < rounds; round++) {
        const before = load.total();
        await poll("writes acknowledged before the termination", async () => (load.total() >= before + 20 ? true : undefined));
        terminated += (await pgQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [`concord-${region}`])).rows.length;
      }
      const after = load.total();
      await poll("writes acknowledged after the last termination", async () => (load.total() >= after + 20 ? true : undefined));
    } finally {
      await load.stop();
    }
    console.log(`postgres-terminate: ${terminated} connections terminated in ${rounds} rounds; acknowledged ${load.acked["term-yjs"]!.size} Yjs + ${load.acked["term-am"]!.size} Automerge writes; refused ${JSON.stringify(Object.fromEntries(load.refused))}`);
    for (const [reason, message] of load.messages) console.log(`postgres-terminate: first "${reason}": ${message}`);
    expect(terminated).toBeGreaterThan(0);
    // No process died: every refusal is the store's unavailability, never a closed port or another error.
    expect([...load.refused.keys()].filter((reason) => reason !== "503 unavailable")).toEqual([]);
    for (const doc of Object.keys(docs)) {
      const value = await converged<{ items?: string[] }>(r.at, 3, doc, (v) => v.items, load.acked[doc]!);
      expect(value.items!.length).toBe(new Set(value.items).size);
    }
  });
});
