/**
 * One region as three real `concord serve` processes over one PostgreSQL
 * schema behind a round-robin balancer, with several writers PATCHing the
 * same two documents (one Yjs, one Automerge) through different processes at
 * once, while one random process at a time is SIGKILLed and started again on
 * its own data directory. At the end every acknowledged (HTTP 200) entry is
 * in both documents as every process reads them, and all three read them
 * identically. CONCORD_KILL_REPEATS sets the number of kills (default 3 in `npm test`, to keep CI short; the closing note's runs used 50);
 * CONCORD_SEED picks the victims. Counts are printed, not asserted.
 * Skipped without PostgreSQL, unless CONCORD_REQUIRE_PG=1.
 */
import { afterAll, expect, it } from "vitest";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { describeWithPostgres, dropSchema, testSchemaName } from "../helpers/postgres.ts";
import { converged, json, startPgRegion, writeLoad, type PgRegion } from "./postgres-cluster.ts";
import { poll } from "./processes.ts";

const schema = testSchemaName("postgres-kill.test.ts");
const repeats = Number(process.env["CONCORD_KILL_REPEATS"] ?? 3);
const seedFromEnv = process.env["CONCORD_SEED"];
const seed = seedFromEnv === undefined ? 0x14_4b11 : Number(seedFromEnv);

type Doc = { items?: string[]; m?: { sub?: Record<string, unknown> } };

await describeWithPostgres("a region of three processes on PostgreSQL, one SIGKILLed at a time under write load", () => {
  let region: PgRegion | undefined;
  afterAll(async () => {
    await region?.stop();
    await dropSchema(schema);
  });

  it(`keeps every acknowledged write on every process through ${repeats} kills (seed ${seed})`, async () => {
    region = await startPgRegion({ schema, count: 3, prefix: "concord-pg-kill-", logLevel: "warn" });
    const r = region;
    const docs = { "kill-yjs": "yjs", "kill-am": "automerge" } as const;
    for (const [doc, kind] of Object.entries(docs)) expect((await json(`${r.at(0)}/v1/docs/${doc}`, { method: "PUT", json: { kind } })).status).toBe(201);

    // Six writers, two per process, each alternating the documents; a killed process refuses the connection.
    const load = writeLoad(r.at, Object.keys(docs), 6, 3);
    const random = createSeededRandom(seed);
    let kills = 0;
    try {
      for (let k = 0; k < repeats; k++) {
        const before = load.total();
        await poll("writes acknowledged before the kill", async () => (load.total() >= before + 10 ? true : undefined));
        const victim = random.int(3);
        await r.kill(victim);
        kills++;
        const during = load.total();
        await poll("writes acknowledged by the survivors", async () => (load.total() >= during + 10 ? true : undefined));
        await r.restart(victim);
      }
    } finally {
      await load.stop();
    }

    const logged = r.history.flatMap((p) => p.output().split("\n")).filter((line) => /corrupt|"level":(50|60)/.test(line));
    console.log(`postgres-kill: ${kills} SIGKILLs (seed ${seed}); acknowledged ${load.acked["kill-yjs"]!.size} Yjs + ${load.acked["kill-am"]!.size} Automerge writes; refused ${JSON.stringify(Object.fromEntries(load.refused))}`);
    for (const [reason, message] of load.messages) console.log(`postgres-kill: first "${reason}": ${message}`);
    if (logged.length > 0) console.log(`postgres-kill: ${logged.length} error lines in the processes' logs, the first ones:\n${logged.slice(0, 5).join("\n")}`);
    for (const doc of Object.keys(docs)) {
      const value = await converged<Doc>(r.at, 3, doc, (v) => v.items, load.acked[doc]!);
      // An entry appears once: a retried append after a failed write does not add it twice.
      expect(value.items!.length).toBe(new Set(value.items).size);
    }
  });

  it("converges concurrent writers on different processes to one document, created at once on all three, for both kinds", async () => {
    const r = region!;
    for (const kind of ["yjs", "automerge"] as const) {
      const doc = `fresh-${kind}`;
      // Created on all three at once, with the same (empty) shape: one document, the others told it exists.
      const created = await Promise.all([0, 1, 2].map((i) => json(`${r.at(i)}/v1/docs/${doc}`, { method: "PUT", json: { kind } })));
      const statuses = created.map((c) => c.status);
      expect(statuses.every((s) => s === 201 || s === 409), JSON.stringify(created)).toBe(true);
      expect(statuses).toContain(201);
      // Each process's writers create the same containers (the list, m and m.sub) through PATCH at once. A
      // write that kept losing the race to the others is refused 503 "unavailable" and sent again, as a client does.
      const expected = new Set<string>();
      let resent = 0;
      await Promise.all([0, 1, 2].flatMap((i) => [0, 1].map(async (w) => {
        for (let n = 0; n < 8; n++) {
          const entry = `p${i}-w${w}-${n}`;
          const ops = [{ op: "push", path: ["items"], value: entry }, { op: "set", path: ["m", "sub", `last-p${i}-w${w}`], value: n }];
          let answer = await json<{ error?: { code: string } }>(`${r.at(i)}/v1/docs/${doc}`, { method: "PATCH", json: { ops } });
          for (let attempt = 1; answer.status === 503 && answer.body.error?.code === "unavailable" && attempt < 20; attempt++) {
            resent++;
            answer = await json(`${r.at(i)}/v1/docs/${doc}`, { method: "PATCH", json: { ops } });
          }
          expect(answer.status, JSON.stringify(answer.body)).toBe(200);
          expected.add(entry);
        }
      })));
      console.log(`postgres-kill: 6 concurrent writers on 3 processes to new ${kind} document: ${statuses.join("/")} on creation, ${resent} writes refused 503 unavailable and sent again`);
      const value = await converged<Doc>(r.at, 3, doc, (v) => v.items, expected);
      expect(value.items!.length).toBe(48);
      for (const i of [0, 1, 2]) for (const w of [0, 1]) expect(value.m!.sub![`last-p${i}-w${w}`]).toBe(7);
    }
  });
});
