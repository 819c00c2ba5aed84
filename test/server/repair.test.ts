/**
 * `concord repair` with real processes: a region whose data file is damaged
 * refuses to start and names the way out; repair rebuilds it from what is
 * intact plus one anti-entropy round with each peer; the region then serves
 * every document as its peers do.
 */
import { spawnSync } from "node:child_process";
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkLmdbFile, LmdbFileDamage } from "../../src/storage/lmdb-file-check.ts";
import { bin, poll, startConcord, startProcessCluster, stop, type ProcessCluster } from "./processes.ts";

const ids = ["r1", "r2", "r3"];
const docs = Array.from({ length: 12 }, (_, i) => `doc-${i}`);
const pageBytes = 4096;
let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await startProcessCluster(ids, "concord-repair-");
});

afterAll(async () => cluster?.stop());

/** Zeroes the last leaf page of document records (keys >= "L") that the file check then refuses (not a freed one). */
async function zeroDocumentLeaf(file: string): Promise<void> {
  const original = await readFile(file);
  for (let at = original.length - pageBytes; at >= 2 * pageBytes; at -= pageBytes) {
    const bytes = Uint8Array.from(original);
    const view = new DataView(bytes.buffer);
    const firstKeyByte = bytes[at + 24 + view.getUint16(at + 24, true) + 8];
    if (view.getUint16(at + 18, true) !== 0x02 || firstKeyByte === undefined || firstKeyByte < 0x4c) continue;
    await writeFile(file, bytes.fill(0, at, at + pageBytes));
    const handle = await open(file, "r");
    const refused = await checkLmdbFile(handle, bytes.length).then(() => false, (error: unknown) => error instanceof LmdbFileDamage);
    await handle.close();
    if (refused) return;
  }
  throw new Error("no leaf page of document records");
}

describe("concord repair", () => {
  it("rebuilds a region whose data file is damaged from what is intact and from its peers", async () => {
    for (const doc of docs) {
      expect((await cluster.api("r1", `/v1/docs/${doc}`, { method: "PUT", json: { kind: "yjs" } })).status).toBe(201);
      const ops = [{ op: "push", path: ["entries"], value: `${doc} `.repeat(300) }];
      expect((await cluster.api("r1", `/v1/docs/${doc}`, { method: "PATCH", json: { ops } })).status).toBe(200);
    }
    const expected = await Promise.all(docs.map((doc) => cluster.value("r1", doc)));
    for (const doc of docs) await poll(`r3 has ${doc}`, async () => ((await cluster.value("r3", doc)) !== undefined ? true : undefined), 20_000);

    await stop(cluster.procs.get("r3")!);
    await zeroDocumentLeaf(join(cluster.dataDir("r3"), "store", "data.mdb"));
    const refused = startConcord(["serve", "--topology", cluster.topologyFile, "--region", "r3", "--data", cluster.dataDir("r3"), "--auth", "off"]);
    expect(await refused.exited).not.toBe(0);
    expect(refused.output()).toMatch(/data\.mdb is damaged/);
    expect(refused.output()).toMatch(/concord repair --data DIR/);

    const repair = spawnSync(process.execPath, [bin, "repair", "--data", cluster.dataDir("r3"), "--topology", cluster.topologyFile, "--region", "r3"], { encoding: "utf8", timeout: 60_000 });
    expect(repair.status, repair.stderr).toBe(0);
    expect(repair.stdout).toMatch(/kept \d+ intact document/);
    expect(repair.stdout).toMatch(/anti-entropy with [12] of 2 peer\(s\) brought \d+ document\(s\) back/);

    await cluster.serve("r3");
    for (const [i, doc] of docs.entries()) expect(await cluster.value("r3", doc)).toEqual(expected[i]);
  }, 120_000);
});
