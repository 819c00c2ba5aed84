/**
 * Backup and restore with real processes: `concord backup` takes an archive
 * from a region while it serves writes; the archive holds no plaintext; after
 * the region's disk is lost, `concord restore` rebuilds it, and the restored
 * region rejoins: it gets back what its peers wrote since (deletes included)
 * and its own new writes reach them. The region restarts twice between backup
 * and loss, so a restored region counting boots from the archive would reuse
 * an older epoch, and its peers would drop its frames as replays for good.
 */
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bin, poll, startConcord, startProcessCluster, stop, type ProcessCluster, safetyNetMs } from "./processes.ts";

const ids = ["r1", "r2", "r3"];
let cluster: ProcessCluster;
const api = (id: string, path: string, init?: RequestInit & { json?: unknown }) => cluster.api(id, path, init);
const value = (id: string, doc: string) => cluster.value(id, doc);
const dataDir = (id: string) => cluster.dataDir(id);
const concord = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: safetyNetMs });

const push = (id: string, doc: string, entry: string) => api(id, `/v1/docs/${doc}`, { method: "PATCH", json: { ops: [{ op: "push", path: ["entries"], value: entry }] } });

beforeAll(async () => {
  cluster = await startProcessCluster(ids, "concord-backup-");
});

afterAll(async () => cluster?.stop());

describe("concord backup and restore", () => {
  it("backs up a serving region, restores it after its disk is lost, and the region rejoins", async () => {
    for (const doc of ["journal", "doomed"]) {
      expect((await api("r1", `/v1/docs/${doc}`, { method: "PUT", json: { kind: "yjs" } })).status).toBe(201);
      expect((await push("r1", doc, "SECRET-BEFORE-BACKUP")).status).toBe(200);
    }

    // Writes keep landing while the backup runs.
    let writing = true;
    const during: Promise<number>[] = [];
    const writer = (async () => {
      for (let i = 0; writing && i < 200; i++) {
        during.push(push("r1", "journal", `during-${i}`).then((r) => r.status));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(during);
    })();
    const archive = join(cluster.path, "r1.ccbackup");
    // Not spawnSync: the writes above must go on while the backup runs.
    const backup = startConcord(["backup", "--region", "r1", "--url", cluster.urls.r1!, "--out", archive]);
    const backupExit = await backup.exited;
    writing = false;
    await writer;
    expect(backupExit, backup.output()).toBe(0);
    expect(backup.output()).toMatch(/wrote .*r1\.ccbackup: region r1, \d+ entries/);
    expect((await Promise.all(during)).every((s) => s === 200)).toBe(true);
    const bytes = await readFile(archive);
    expect(bytes.includes("SECRET-BEFORE-BACKUP")).toBe(false);
    expect(bytes.includes("journal")).toBe(false);
    const verify = concord("restore", "--in", archive, "--verify", "--key-file", join(dataDir("r1"), "keys", "master.key"));
    expect(verify.status, verify.stderr).toBe(0);

    // After the backup: r1 restarts twice (boot epochs beyond the archive's next one), peers write and delete.
    for (let restart = 0; restart < 2; restart++) {
      await stop(cluster.procs.get("r1")!);
      await cluster.serve("r1");
      expect((await push("r1", "journal", `restart-${restart}`)).status).toBe(200);
    }
    expect((await push("r2", "journal", "AFTER-BACKUP-r2")).status).toBe(200);
    expect((await api("r2", "/v1/docs/doomed", { method: "DELETE" })).status).toBe(204);
    await poll("r1 saw the delete", async () => ((await api("r1", "/v1/docs/doomed")).status === 410 ? true : undefined));

    // Disk lost: only the master key survives (it lives in a secret store in production).
    await stop(cluster.procs.get("r1")!, "SIGKILL");
    const savedKey = join(cluster.path, "r1-master.key");
    await copyFile(join(dataDir("r1"), "keys", "master.key"), savedKey);
    await rm(dataDir("r1"), { recursive: true });
    await mkdir(join(dataDir("r1"), "keys"), { recursive: true });
    await copyFile(savedKey, join(dataDir("r1"), "keys", "master.key"));
    const restore = concord("restore", "--in", archive, "--data", dataDir("r1"));
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stderr).toMatch(/restored \d+ entries .* of region r1/);
    expect(restore.stderr).toMatch(/region key is in keys\/region\.key/);

    expect((await readdir(dataDir("r1"))).sort()).toEqual(["RESTORED", "keys", "store"]);
    await cluster.serve("r1");
    // Ready only once it has caught up with a peer: by then the document deleted after the backup is shredded again.
    expect((await api("r1", "/v1/docs/doomed")).status).toBe(410);
    expect(await readdir(dataDir("r1"))).not.toContain("RESTORED");
    // The restored region catches up on what it missed, the delete included…
    await poll("r1 has r2's later write", async () => ((await value("r1", "journal")) as { entries?: string[] } | undefined)?.entries?.includes("AFTER-BACKUP-r2") || undefined);
    await poll("r1 shreds the deleted document", async () => ((await api("r1", "/v1/docs/doomed")).status === 410 ? true : undefined));
    // …and its own new writes reach its peers: they accept its frames.
    expect((await push("r1", "journal", "AFTER-RESTORE-r1")).status).toBe(200);
    for (const id of ["r2", "r3"]) {
      await poll(`${id} has r1's write after the restore`, async () => ((await value(id, "journal")) as { entries?: string[] } | undefined)?.entries?.includes("AFTER-RESTORE-r1") || undefined);
    }
    const values = await Promise.all(ids.map((id) => value(id, "journal").then((v) => JSON.stringify(v))));
    expect(new Set(values).size).toBe(1);
  });

  it("refuses a non-empty data directory, a wrong key and a damaged archive, changing nothing", async () => {
    const archive = join(cluster.path, "r2.ccbackup");
    const made = concord("backup", "--data", dataDir("r2"), "--out", archive);
    expect(made.status, made.stderr).toBe(0);
    expect(concord("backup", "--data", dataDir("r2"), "--out", archive).stderr).toMatch(/already exists/);

    const busy = concord("restore", "--in", archive, "--data", dataDir("r3"));
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/not empty .*\[exists\]/);

    const target = join(cluster.path, "fresh");
    const wrongKey = join(cluster.path, "wrong.key");
    expect(concord("keys", "init", "--data", join(cluster.path, "other"), "--key-file", wrongKey).status).toBe(0);
    const wrong = concord("restore", "--in", archive, "--data", target, "--key-file", wrongKey);
    expect(wrong.stderr).toMatch(/\[wrong_key\]/);

    const damagedFile = join(cluster.path, "damaged.ccbackup");
    const damaged = await readFile(archive);
    damaged[Math.floor(damaged.length / 2)]! ^= 1;
    await writeFile(damagedFile, damaged);
    const bad = concord("restore", "--in", damagedFile, "--data", target, "--key-file", join(dataDir("r2"), "keys", "master.key"));
    expect(bad.stderr).toMatch(/\[corrupt_record\]/);
    // Nothing was left behind by the refused restores.
    expect(await readdir(target).catch(() => [])).toEqual([]);

    // An interrupted restore (its region key written, its store still partial) finishes when run again…
    const r2Key = join(dataDir("r2"), "keys", "master.key");
    await mkdir(join(target, "keys"), { recursive: true });
    await copyFile(join(dataDir("r2"), "keys", "region.key"), join(target, "keys", "region.key"));
    await mkdir(join(target, ".restore-partial"));
    await writeFile(join(target, ".restore-partial", "junk"), "x");
    const again = concord("restore", "--in", archive, "--data", target, "--key-file", r2Key);
    expect(again.status, again.stderr).toBe(0);
    expect((await readdir(target)).sort()).toEqual(["RESTORED", "keys", "store"]);
    // …but a region key from elsewhere is refused.
    const other = join(cluster.path, "other-target");
    await mkdir(join(other, "keys"), { recursive: true });
    await copyFile(join(dataDir("r3"), "keys", "region.key"), join(other, "keys", "region.key"));
    expect(concord("restore", "--in", archive, "--data", other, "--key-file", r2Key).stderr).toMatch(/another region key .*\[exists\]/);
  });
});
