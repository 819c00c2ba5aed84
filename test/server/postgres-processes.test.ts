/**
 * One region as three real `concord serve` processes over one PostgreSQL
 * schema (each with its own data directory holding copies of the region's
 * keys), behind a round-robin TCP balancer at the region's URL, plus a second
 * region on LMDB. Different processes write different documents (two writing
 * one document at once is the multi-writer branch's). Latency and failover
 * times are printed, not asserted. Skipped without PostgreSQL, unless
 * CONCORD_REQUIRE_PG=1.
 */
import { afterAll, expect, it } from "vitest";
import { describeWithPostgres, dropSchema, testSchemaName } from "../helpers/postgres.ts";
import { json, sse, startPgRegion, type MembersStatus, type PgRegion } from "./postgres-cluster.ts";
import { poll } from "./processes.ts";

const schema = testSchemaName("postgres-processes.test.ts");

const setNote = (url: string, doc: string, note: string) => json(`${url}/v1/docs/${doc}`, { method: "PATCH", json: { ops: [{ op: "set", path: ["m", "note"], value: note }] } });
const noteOf = async (url: string, doc: string) => {
  const r = await fetch(`${url}/v1/docs/${doc}`).catch(() => undefined);
  return r?.ok ? ((await r.json()) as { value: { m?: { note?: string } } }).value.m?.note : undefined;
};

await describeWithPostgres("one region as three processes over PostgreSQL, with a region on LMDB", () => {
  afterAll(() => dropSchema(schema));

  it("replicates writes from every process, shows each process's writes to the others' subscribers, and moves the anti-entropy duty when its holder is killed", async () => {
    let region: PgRegion | undefined;
    try {
      region = await startPgRegion({ schema, count: 3, lmdb: ["lm"], prefix: "concord-pg-processes-" });
      const { urls, ports, procs: pg, at } = region;
      const lm = region.others.get("lm")!;

      const members = await poll("three members", async () => {
        const { body } = await json<MembersStatus>(`${at(0)}/v1/admin/members`);
        return body.members.filter((m) => m.alive).length === 3 ? body : undefined;
      });
      expect(new Set(members.members.map((m) => m.epoch)).size).toBe(3);

      // Writes on each process reach the LMDB region; a write there reaches every process.
      for (let i = 0; i < 3; i++) {
        expect((await json(`${at(i)}/v1/docs/from-${i}`, { method: "PUT", json: { kind: i === 1 ? "automerge" : "yjs" } })).status).toBe(201);
        expect((await setNote(at(i), `from-${i}`, `written on process ${i}`)).status).toBe(200);
      }
      for (let i = 0; i < 3; i++) await poll(`from-${i} on lm`, async () => ((await noteOf(urls["lm"]!, `from-${i}`)) === `written on process ${i}` ? true : undefined));
      expect((await json(`${urls["lm"]}/v1/docs/from-lm`, { method: "PUT", json: { kind: "yjs" } })).status).toBe(201);
      expect((await setNote(urls["lm"]!, "from-lm", "written on lm")).status).toBe(200);
      for (let i = 0; i < 3; i++) await poll(`from-lm on process ${i}`, async () => ((await noteOf(at(i), "from-lm")) === "written on lm" ? true : undefined));

      // A subscriber on process 2 sees writes made on process 1 (different processes write different documents).
      const stream = sse(`${at(1)}/v1/docs/from-0/events`);
      await stream.ready;
      await poll("ready event", async () => (stream.events.some((e) => e.event === "ready") ? true : undefined));
      const fromRequest: number[] = [];
      const fromAck: number[] = [];
      for (let n = 0; n < 20; n++) {
        const before = stream.events.length;
        const started = performance.now();
        expect((await setNote(at(0), "from-0", `round ${n}`)).status).toBe(200);
        const acked = performance.now();
        const seen = await poll(`change ${n} on process 2`, async () => stream.events.slice(before).find((e) => e.event === "change"));
        fromRequest.push(seen.at - started);
        fromAck.push(seen.at - acked);
      }
      stream.close();
      const summary = (ms: number[]) => {
        const sorted = [...ms].sort((a, b) => a - b);
        return `p50 ${sorted[10]!.toFixed(1)} ms, max ${sorted[19]!.toFixed(1)} ms`;
      };
      console.log(`cross-process visibility, 20 writes on process 1 seen by an SSE subscriber on process 2: from the PATCH request ${summary(fromRequest)}; from its acknowledgement ${summary(fromAck)}`);
      expect(await noteOf(at(1), "from-0")).toBe("round 19");

      // SIGKILL the anti-entropy duty holder; another process takes the lease.
      const status = (await json<MembersStatus>(`${at(0)}/v1/admin/members`)).body;
      const holder = status.leases.find((l) => l.duty === "anti-entropy")!;
      const holderIndex = ports.findIndex((p) => status.members.find((m) => m.epoch === holder.holder)?.url.endsWith(`:${p}`));
      expect(holderIndex).toBeGreaterThanOrEqual(0);
      const survivor = (holderIndex + 1) % 3;
      const killedAt = performance.now();
      await region.kill(holderIndex);
      const taken = await poll("the duty on a survivor", async () => {
        const { body } = await json<MembersStatus>(`${at(survivor)}/v1/admin/members`);
        const lease = body.leases.find((l) => l.duty === "anti-entropy");
        return lease && lease.holder !== holder.holder ? lease : undefined;
      });
      console.log(`anti-entropy duty moved from epoch ${holder.holder} to ${taken.holder} (token ${holder.token} -> ${taken.token}) ${(performance.now() - killedAt).toFixed(0)} ms after SIGKILL`);
      expect(taken.token).toBeGreaterThan(holder.token);

      // The survivors still replicate both ways.
      expect((await setNote(at(survivor), `from-${survivor}`, "after the kill")).status).toBe(200);
      await poll("after the kill on lm", async () => ((await noteOf(urls["lm"]!, `from-${survivor}`)) === "after the kill" ? true : undefined));
      expect((await setNote(urls["lm"]!, "from-lm", "lm after the kill")).status).toBe(200);
      await poll("lm after the kill on the survivor", async () => ((await noteOf(at(survivor), "from-lm")) === "lm after the kill" ? true : undefined));

      // The LMDB region accepted frames from all three processes: no refusal as replayed, ever.
      const refusals = lm.output().split("\n").filter((line) => line.includes("refused a gossip frame"));
      console.log(`lm refused ${refusals.length} gossip frames (${refusals.filter((l) => l.includes("stale_epoch")).length} stale_epoch, as after any start)`);
      expect(refusals.filter((l) => l.includes('"replayed"'))).toEqual([]);
      for (const proc of pg) expect(proc.output()).not.toContain('"reason":"replayed"');
    } finally {
      await region?.stop();
    }
  });
});
