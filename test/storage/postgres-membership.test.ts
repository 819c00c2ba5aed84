/**
 * The region membership tables and change notices on a real PostgreSQL
 * (src/storage/postgres-membership.ts, postgres-notify.ts). Skipped without
 * PostgreSQL, unless CONCORD_REQUIRE_PG=1.
 */
import { afterAll, expect, it } from "vitest";
import { systemClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { toHex } from "../../src/storage/bytes.ts";
import type { MembershipStore } from "../../src/storage/membership.ts";
import { openPostgresMembership } from "../../src/storage/postgres-membership.ts";
import { openPostgresNotify, type PostgresNotify } from "../../src/storage/postgres-notify.ts";
import { describeWithPostgres, dropSchema, pgQuery, pgTestUrl, testSchemaName } from "../helpers/postgres.ts";
import { poll } from "../server/processes.ts";

const schema = testSchemaName("postgres-membership.test.ts");
const open: Array<MembershipStore | PostgresNotify> = [];
const membership = async () => {
  const m = await openPostgresMembership({ url: pgTestUrl, schema });
  open.push(m);
  return m;
};

await describeWithPostgres("region membership and change notices on PostgreSQL", () => {
  afterAll(async () => {
    await Promise.all(open.map((m) => m.close()));
    await dropSchema(schema);
  });

  it("draws distinct epochs for processes joining at once, each above the floor asked, and lists them", async () => {
    const stores = await Promise.all(Array.from({ length: 6 }, () => membership()));
    const epochs = await Promise.all(stores.map((s, i) => s.join({ name: `p${i}`, url: `http://10.0.0.${i}:7101`, atLeast: 5000 })));
    expect(new Set(epochs).size).toBe(6);
    expect(Math.min(...epochs)).toBeGreaterThanOrEqual(5000);
    const view = await stores[0]!.view();
    expect(view.regionEpoch).toBe(Math.max(...epochs));
    expect(view.members.map((m) => m.epoch).sort()).toEqual([...epochs].sort());
    expect(view.members.every((m) => m.silentMs >= 0 && m.silentMs < 60_000)).toBe(true);
    // A later floor wins over the sequence; the sequence never goes back.
    expect(await stores[0]!.join({ name: "late", url: "http://late", atLeast: 9000 })).toBe(9000);
    expect(await stores[0]!.join({ name: "later", url: "http://later", atLeast: 10 })).toBe(9001);
  });

  it("gives a duty to one holder, renews it for that holder, and moves it with a new token once expired or released", async () => {
    const [a, b] = [await membership(), await membership()];
    const ea = await a.join({ name: "a", url: "http://a", atLeast: 1 });
    const eb = await b.join({ name: "b", url: "http://b", atLeast: 1 });
    expect(await a.acquire("duty-x", ea, 60_000)).toMatchObject({ holder: ea, token: 1 });
    expect(await b.acquire("duty-x", eb, 60_000)).toMatchObject({ holder: ea, token: 1 });
    expect(await a.acquire("duty-x", ea, 60_000)).toMatchObject({ holder: ea, token: 1 }); // renewed, same token
    await a.leave(ea);
    expect(await b.acquire("duty-x", eb, 60_000)).toMatchObject({ holder: eb, token: 2 });
    // A lease of 1 ms runs out by the database's clock; the other process takes it.
    await b.acquire("duty-y", eb, 1);
    const c = await membership();
    const ec = await c.join({ name: "c", url: "http://c", atLeast: 1 });
    const taken = await poll("duty-y expired", async () => {
      const lease = await c.acquire("duty-y", ec, 60_000);
      return lease.holder === ec ? lease : undefined;
    });
    expect(taken.token).toBe(2);
    expect(taken.expiresInMs).toBeGreaterThan(50_000);
    expect((await c.view()).members.some((m) => m.epoch === ea)).toBe(false);
  });

  it("publishes keyed hashes to the region's other processes, never to itself, in payloads that fit, and reconnects after the listener is killed", async () => {
    const random = createSeededRandom(3);
    const heard: Record<number, string[]> = { 1: [], 2: [] };
    const reconnects: Record<number, number> = { 1: 0, 2: 0 };
    const notifier = (self: number) => openPostgresNotify({
      url: pgTestUrl, schema, self, clock: systemClock, random, applicationName: `concord-notify-test-${self}`,
      onChange: (hashes) => heard[self]!.push(...hashes),
      onReconnect: () => reconnects[self]!++,
    });
    const one = await notifier(1);
    const two = await notifier(2);
    open.push(one, two);
    const hashes = Array.from({ length: 600 }, () => random.bytes(16)); // 600 × 33 bytes: two payloads
    await one.publish(hashes);
    await poll("600 notices on two", async () => (heard[2]!.length === 600 ? true : undefined));
    expect(heard[2]).toEqual(hashes.map(toHex));
    expect(heard[1]).toEqual([]);

    // The listening connection of two dies (as when PostgreSQL restarts): two reconnects and says so.
    const killed = await pgQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'concord-notify-test-2' AND query LIKE 'LISTEN%'");
    expect(killed.rowCount).toBe(1);
    await poll("two reconnected", async () => (reconnects[2] === 1 ? true : undefined));
    const after = random.bytes(16);
    await one.publish([after]);
    await poll("a notice after the reconnect", async () => (heard[2]!.at(-1) === toHex(after) ? true : undefined));
  });
});
