/**
 * A region on PostgreSQL, as real `concord serve --store postgres://…`
 * processes: nothing readable reaches the database, the data directory
 * holds keys only, and a region moves from LMDB to PostgreSQL by backup and
 * restore. Skipped (with the reason) without PostgreSQL; CONCORD_REQUIRE_PG=1
 * makes that a failure.
 */
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, expect, it } from "vitest";
import { describeWithPostgres, dropSchema, pgQuery, pgTestUrl, testSchemaName } from "../helpers/postgres.ts";
import { bin, safetyNetMs, startConcord, startProcessCluster, stop, waitReady, type ProcessCluster, type Proc } from "./processes.ts";

const schema = testSchemaName("postgres-region.test.ts");
const storeUrl = (name: string) => `${pgTestUrl}?schema=${name}`;
const concord = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: safetyNetMs });
const canary = "zqxcanary7731";

const clusters: ProcessCluster[] = [];
const extra: Proc[] = [];

async function writeCanaries(cluster: ProcessCluster, id: string, count: number): Promise<string[]> {
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const doc = `${canary}-doc-${i}`;
    const kind = i % 2 === 0 ? "yjs" : "automerge";
    expect((await cluster.api(id, `/v1/docs/${doc}`, { method: "PUT", json: { kind } })).status).toBe(201);
    const patch = await cluster.api(id, `/v1/docs/${doc}`, { method: "PATCH", json: { ops: [{ op: "set", path: ["m", "note"], value: `${canary} content ${i}` }] } });
    expect(patch.status, await patch.clone().text()).toBe(200);
    docs.push(doc);
  }
  return docs;
}

await describeWithPostgres("a region on PostgreSQL (concord serve --store postgres://)", () => {
  afterEach(async () => {
    await Promise.all(extra.splice(0).map((p) => stop(p, "SIGKILL")));
    await Promise.all(clusters.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    for (const suffix of ["canary", "moved", "terminated"]) await dropSchema(`${schema}_${suffix}`);
  });

  it("keeps documents in PostgreSQL, and pg_dump of its schema shows no document id and no content", async () => {
    const pgSchema = `${schema}_canary`;
    const cluster = await startProcessCluster(["pgsolo"], "concord-pg-region-", { serveArgs: () => ["--store", storeUrl(pgSchema)] });
    clusters.push(cluster);
    const docs = await writeCanaries(cluster, "pgsolo", 6);
    for (const [i, doc] of docs.entries()) expect(await cluster.value("pgsolo", doc)).toEqual({ m: { note: `${canary} content ${i}` } });
    // Nothing of the documents in the data directory (it holds keys, tokens and the keyring "keys init" made).
    expect((await readdir(cluster.dataDir("pgsolo"))).filter((n) => n !== "store" && n !== "LOCK" && n !== "keys" && n !== "CAUGHT_UP")).toEqual([]);

    const dump = spawnSync("pg_dump", ["--dbname", pgTestUrl, "--schema", pgSchema, "--data-only", "--inserts"], { encoding: "utf8", maxBuffer: 1 << 28 });
    expect(dump.status, dump.stderr).toBe(0);
    const rows = (dump.stdout.match(/^INSERT INTO /gm) ?? []).length;
    console.log(`pg_dump of ${pgSchema}: ${dump.stdout.length} characters, ${rows} rows`);
    expect(rows).toBeGreaterThan(docs.length); // the documents are there, as sealed rows
    // bytea is dumped as \x hex: look for the canary as text and as hex (ids and contents all hold it).
    const hex = Buffer.from(canary).toString("hex");
    for (const needle of [canary, hex, Buffer.from(`content 3`).toString("hex")]) expect(dump.stdout.includes(needle), `pg_dump output holds ${needle}`).toBe(false);

    // A backup straight from the store (--data DIR --store URL) while the region runs: one REPEATABLE READ read.
    const archive = join(cluster.path, "pgsolo.ccbackup");
    const backup = concord("backup", "--data", cluster.dataDir("pgsolo"), "--store", storeUrl(pgSchema), "--region", "pgsolo", "--out", archive);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/region pgsolo, \d+ entries/);
    expect((await readFile(archive)).includes(canary)).toBe(false);

    // Restarted, it reads its documents back from PostgreSQL.
    await stop(cluster.procs.get("pgsolo")!);
    await cluster.serve("pgsolo");
    for (const [i, doc] of docs.entries()) expect(await cluster.value("pgsolo", doc)).toEqual({ m: { note: `${canary} content ${i}` } });
  });

  it("moves a region from LMDB to PostgreSQL: backup of the LMDB directory, restore into PostgreSQL, serve", async () => {
    const pgSchema = `${schema}_moved`;
    const cluster = await startProcessCluster(["mover"], "concord-pg-move-");
    clusters.push(cluster);
    const docs = await writeCanaries(cluster, "mover", 4);
    await stop(cluster.procs.get("mover")!);
    const archive = join(cluster.path, "mover.ccbackup");
    const backup = concord("backup", "--data", cluster.dataDir("mover"), "--out", archive);
    expect(backup.status, backup.stderr).toBe(0);

    const target = join(cluster.path, "mover-pg");
    await mkdir(join(target, "keys"), { recursive: true });
    await copyFile(join(cluster.dataDir("mover"), "keys", "master.key"), join(target, "keys", "master.key"));
    const restoreInto = (file: string) => concord("restore", "--in", file, "--data", target, "--store", storeUrl(pgSchema), "--region", "mover");
    const rows = async () => Number((await pgQuery(`SELECT count(*) AS n FROM "${pgSchema}"."kv"`)).rows[0].n);

    // A damaged archive is refused after part of it streamed in: the store is emptied again, DIR unchanged.
    const damaged = await readFile(archive);
    damaged[Math.floor(damaged.length / 2)]! ^= 1;
    await writeFile(join(cluster.path, "damaged.ccbackup"), damaged);
    const bad = restoreInto(join(cluster.path, "damaged.ccbackup"));
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/\[corrupt_record\]/);
    expect(await readdir(target)).toEqual(["keys"]);
    expect(await rows()).toBe(0);

    // An interrupted restore (marker left, rows half in): the region refuses to start, a new restore starts over.
    await pgQuery(`INSERT INTO "${pgSchema}"."kv" (k, v) VALUES ('\\x4d01', '\\x00')`);
    await writeFile(join(target, ".restore-postgres-partial"), "");
    await copyFile(join(cluster.dataDir("mover"), "keys", "region.key"), join(target, "keys", "region.key")); // as a restore writes it
    const refusedStart = startConcord(["serve", "--topology", cluster.topologyFile, "--region", "mover", "--data", target, "--store", storeUrl(pgSchema), "--auth", "off"]);
    extra.push(refusedStart);
    expect(await refusedStart.exited).not.toBe(0);
    expect(refusedStart.output()).toContain("did not finish");

    const restore = restoreInto(archive);
    expect(restore.status, restore.stderr).toBe(0);
    expect((await pgQuery(`SELECT count(*) AS n FROM "${pgSchema}"."kv" WHERE k = '\\x4d01'`)).rows[0].n).toBe("0");
    expect((await readdir(target)).sort()).toEqual(["RESTORED", "keys"]);

    // A second restore into the now non-empty store is refused, changing nothing.
    const again = join(cluster.path, "mover-pg-again");
    await mkdir(join(again, "keys"), { recursive: true });
    await copyFile(join(target, "keys", "master.key"), join(again, "keys", "master.key"));
    const refused = concord("restore", "--in", archive, "--data", again, "--store", storeUrl(pgSchema), "--region", "mover");
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("is not empty");

    const proc = startConcord(["serve", "--topology", cluster.topologyFile, "--region", "mover", "--data", target, "--store", storeUrl(pgSchema), "--log-level", "warn", "--auth", "off"]);
    extra.push(proc);
    await waitReady(cluster.urls["mover"]!, proc);
    for (const [i, doc] of docs.entries()) expect(await cluster.value("mover", doc)).toEqual({ m: { note: `${canary} content ${i}` } });

    // The PostgreSQL region backs up too (over HTTP, a REPEATABLE READ snapshot), and the archive checks out.
    const fromPg = join(cluster.path, "mover-pg.ccbackup");
    const backupPg = concord("backup", "--region", "mover", "--url", cluster.urls["mover"]!, "--out", fromPg);
    expect(backupPg.status, backupPg.stderr).toBe(0);
    const verify = concord("restore", "--in", fromPg, "--verify", "--key-file", join(target, "keys", "master.key"));
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toContain("mac and region key check out");
  });

  // A failed group-commit write used to wedge the replica until restart; now it fails only its batch, retires
  // the documents it touched (their next use reloads them from the store), and later writes go on.
  it("answers 503 unavailable while its PostgreSQL connections are terminated under write load, loses no acknowledged write, and recovers", async () => {
    const pgSchema = `${schema}_terminated`;
    const cluster = await startProcessCluster(["pgkill"], "concord-pg-kill-", { serveArgs: () => ["--store", storeUrl(pgSchema)] });
    clusters.push(cluster);
    expect((await cluster.api("pgkill", "/v1/docs/journal", { method: "PUT", json: { kind: "yjs" } })).status).toBe(201);
    const acked: string[] = [];
    const failed: Array<{ status: number; code: string }> = [];
    let waiting: { atLeast: number; wake: () => void } | undefined;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 60; i++) {
        const entry = `w${w}-${i}`;
        const r = await cluster.api("pgkill", "/v1/docs/journal", { method: "PATCH", json: { ops: [{ op: "push", path: ["entries"], value: entry }] } });
        if (r.status === 200) acked.push(entry);
        else { const body = (await r.json()) as { error: { code: string; message: string } }; failed.push({ status: r.status, code: body.error.code }); if (failed.length <= 3 || failed.length % 50 === 0) console.log(`write failed: ${body.error.message}`); }
        if (waiting && acked.length >= waiting.atLeast) waiting.wake();
      }
    });
    const allDone = Promise.all(writers);
    let killed = 0;
    for (let round = 1; round <= 3; round++) {
      // Also ends when the writers do: if writes stopped being acknowledged, the checks below say so.
      await Promise.race([allDone, new Promise<void>((wake) => {
        waiting = { atLeast: round * 50, wake };
        if (acked.length >= waiting.atLeast) wake();
      })]);
      killed += (await pgQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'concord-pgkill'")).rows.length;
    }
    await allDone;
    console.log(`region on PostgreSQL: terminated ${killed} connections in 3 rounds; ${acked.length} writes acknowledged, ${failed.length} failed (${JSON.stringify(failed.slice(0, 3))})`);
    expect(killed).toBeGreaterThan(0);
    for (const failure of failed) expect(failure).toEqual({ status: 503, code: "unavailable" });
    const after = await cluster.api("pgkill", "/v1/docs/journal", { method: "PATCH", json: { ops: [{ op: "push", path: ["entries"], value: "after" }] } });
    expect(after.status).toBe(200);
    const entries = ((await cluster.value("pgkill", "journal")) as { entries: string[] }).entries;
    expect(acked.filter((e) => !entries.includes(e))).toEqual([]);
    expect(entries).toContain("after");
    // And from the store alone: a restart reads every acknowledged write back from PostgreSQL.
    await stop(cluster.procs.get("pgkill")!);
    await cluster.serve("pgkill");
    const reread = ((await cluster.value("pgkill", "journal")) as { entries: string[] }).entries;
    expect([...acked, "after"].filter((e) => !reread.includes(e))).toEqual([]);
  });

  it("refuses to run on PostgreSQL over a data directory whose LMDB store holds documents", async () => {
    const cluster = await startProcessCluster(["twostores"], "concord-pg-refuse-");
    clusters.push(cluster);
    await writeCanaries(cluster, "twostores", 1);
    await stop(cluster.procs.get("twostores")!);
    const proc = startConcord(["serve", "--topology", cluster.topologyFile, "--region", "twostores", "--data", cluster.dataDir("twostores"), "--store", storeUrl(`${schema}_never`), "--auth", "off"]);
    extra.push(proc);
    expect(await proc.exited).not.toBe(0);
    expect(proc.output()).toContain("holds an LMDB store with documents");
  });
});
