/**
 * Issue 10, finding 10: `concord keys rotate` on a real LMDB data directory.
 * The directory's raw bytes are scanned after each rotation for anything of
 * the old keys (test/helpers/old-key-scan.ts), and a rotation killed midway
 * must leave a directory that opens and a rotation that finishes.
 */
import { spawn, spawnSync } from "node:child_process";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { rekeyDataDir, rekeyPaths, type RekeyStep } from "../../src/cli/keys-rekey.ts";
import { rotateMasterKey } from "../../src/crypto/keyring.ts";
import { openReplica as openDataDir, storePath } from "../../src/node.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createKeyFile, defaultKeyFile, readKeyFile } from "../../src/runtime/master-key.ts";
import { systemRandom } from "../../src/runtime/random.ts";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { recordingStore, scanDirectory, type RecordingStore } from "../helpers/old-key-scan.ts";
import { tempDir } from "../helpers/replicas.ts";

const bin = fileURLToPath(new URL("../../src/concord.mjs", import.meta.url));
/** The environment without a master key: the key files in the data directory are used. */
const { CONCORD_MASTER_KEY: _unused, ...env } = process.env;
const concord = (args: string[]) => {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env });
  return { code: result.status, out: result.stdout, err: result.stderr };
};
const exists = (path: string) => stat(path).then(() => true, () => false);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/**
 * A data directory with `docs` documents of each kind (some compacted, some with a log) and a few deletions,
 * written through a recording store; the key file in DIR/keys/master.key.
 */
async function populated(docs: number) {
  const dir = await tempDir("concord-rotate-");
  cleanups.push(dir.remove);
  const oldKey = await createKeyFile(defaultKeyFile(dir.path));
  const recorded = recordingStore(await openLmdbStore({ path: storePath(dir.path) }));
  const replica = await openReplica({ store: recorded.store, masterKey: oldKey, compactMaxLogRecords: 4 });
  for (let from = 0; from < docs; from += 100) {
    // Concurrent writes share store commits (group commit): far fewer fsyncs than one at a time.
    await Promise.all(Array.from({ length: Math.min(100, docs - from) }, async (_, j) => {
      const i = from + j;
      await replica.create(`y${i}`, "yjs");
      for (let k = 0; k < (i % 3 === 0 ? 6 : 1); k++) await replica.change(`y${i}`, (doc: Y.Doc) => doc.getText("t").insert(0, `secret ${i}.${k} `));
      await replica.create(`a${i}`, "automerge", { init: { items: [] } });
      await replica.patch(`a${i}`, [{ op: "push", path: ["items"], value: `secret ${i}` }]);
    }));
  }
  for (let i = 0; i < Math.min(5, docs); i++) await replica.delete(`a${i}`);
  const views = await readAll(replica);
  await replica.close();
  return { dir: dir.path, oldKey, recorded, views };
}

async function readAll(replica: Replica): Promise<Map<string, unknown>> {
  const views = new Map<string, unknown>();
  for await (const id of replica.list({ limit: 100_000 })) views.set(id, await replica.read(id));
  return views;
}

/** Opens the directory as a region would (its key file, its lock) and reads every document. */
async function readDir(dir: string): Promise<Map<string, unknown>> {
  const replica = await openDataDir({ dir });
  try {
    return await readAll(replica);
  } finally {
    await replica.close();
  }
}

function row(label: string, scan: Awaited<ReturnType<typeof scanDirectory>>, recorded: RecordingStore): string {
  return `| ${label} | ${scan.bytes} | ${scan.oldKeyIdsFound} | ${scan.oldWrappedKeysOpened} | ${scan.noncesFound} of ${recorded.nonces.size} |`;
}

describe("concord keys rotate (issue 10, finding 10)", () => {
  it("re-keys by default: no old wrapped key and no record sealed before is left in the directory's bytes", async () => {
    const { dir, oldKey, recorded, views } = await populated(40);
    const before = await scanDirectory(dir, recorded, oldKey);
    expect(before.oldWrappedKeysOpened).toBeGreaterThan(0);

    const rotate = concord(["keys", "rotate", "--data", dir]);
    expect(rotate.code, rotate.err).toBe(0);
    expect(rotate.err).toContain("re-keyed 75 documents (0 by an earlier run) and 5 tombstones");
    expect(rotate.out).toMatch(/rotated \(re-keyed: new data keys, every record sealed again, the old store file \(\d+ bytes\) overwritten and deleted\)/);

    const after = await scanDirectory(dir, recorded, oldKey);
    console.log(["| directory | bytes | old key ids | old wrapped keys that open | nonces of old records |", "| --- | --- | --- | --- | --- |",
      row("before", before, recorded), row("after keys rotate", after, recorded)].join("\n"));
    expect(after).toMatchObject({ oldKeyIdsFound: 0, oldWrappedKeysOpened: 0, noncesFound: 0 });
    expect(await exists(rekeyPaths(dir).retired)).toBe(false);
    expect(await exists(rekeyPaths(dir).fresh)).toBe(false);
    expect(await readDir(dir)).toEqual(views);
    // The old key opens nothing; the new one is in the key file.
    expect(Buffer.from(await readKeyFile(defaultKeyFile(dir))).equals(Buffer.from(oldKey))).toBe(false);
    await expect(openDataDir({ dir, masterKey: oldKey })).rejects.toMatchObject({ code: "wrong_key" });
  });

  it("with --rewrap-only keeps the data keys, as its help says: the old key still opens what the file's free pages hold", async () => {
    const { dir, oldKey, recorded, views } = await populated(40);
    const rotate = concord(["keys", "rotate", "--data", dir, "--rewrap-only"]);
    expect(rotate.code, rotate.err).toBe(0);
    expect(rotate.out).toContain("rewrap only: 75 data keys rewrapped, the data keys themselves unchanged");
    const after = await scanDirectory(dir, recorded, oldKey);
    console.log(["| directory | bytes | old key ids | old wrapped keys that open | nonces of old records |", "| --- | --- | --- | --- | --- |",
      row("after keys rotate --rewrap-only", after, recorded)].join("\n"));
    expect(after.noncesFound).toBeGreaterThan(0); // the records themselves were never touched
    expect(await readDir(dir)).toEqual(views);
  });

  it("says which rotation does what in --help", () => {
    const help = concord(["keys", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/rotate {2}Re-keys the store under a new master key/);
    expect(help.out).toContain("--rewrap-only");
    expect(help.out).toMatch(/data keys stay\s+the same/);
  });

  it("killed while it copies, leaves a directory the region opens, and finishes when run again", async () => {
    const { dir, oldKey, recorded, views } = await populated(400);
    const child = spawn(process.execPath, [bin, "keys", "rotate", "--data", dir], { stdio: ["ignore", "pipe", "pipe"], env });
    let err = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      // Progress is printed at every tenth: kill it at the first one past zero.
      if (/re-keying documents: [1-9]\d?%/.test(err)) child.kill("SIGKILL");
    });
    expect(await exited, err).toBe(null);
    expect(await exists(rekeyPaths(dir).fresh)).toBe(true);
    // The live store is untouched: the region opens it with the key it has.
    expect(await readDir(dir)).toEqual(views);

    const again = concord(["keys", "rotate", "--data", dir]);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain("resuming an interrupted rotation");
    expect(again.err).toMatch(/re-keyed 795 documents \([1-9]\d* by an earlier run\)/);
    expect(await scanDirectory(dir, recorded, oldKey)).toMatchObject({ oldKeyIdsFound: 0, oldWrappedKeysOpened: 0, noncesFound: 0 });
    expect(await readDir(dir)).toEqual(views);
  });

  it.each<RekeyStep>(["copied", "linked", "swapped", "key-moved"])("crashed after the step %s, finishes when run again", async (step) => {
    const { dir, oldKey, recorded, views } = await populated(10);
    const keyFile = defaultKeyFile(dir);
    const newKey = await createKeyFile(`${keyFile}.new`);
    await expect(rekeyDataDir({
      dataDir: dir, oldKey, newKey, random: systemRandom, moveKey: { from: `${keyFile}.new`, to: keyFile },
      afterStep: (at) => {
        if (at === step) throw new Error(`crash after ${at}`);
      },
    })).rejects.toThrow(`crash after ${step}`);
    // Before the swap the region opens with the old key; after it, with the key in FILE.new only until it moved.
    if (step === "copied" || step === "linked") expect(await readDir(dir)).toEqual(views);
    if (step === "swapped") await expect(readDir(dir)).rejects.toMatchObject({ code: "wrong_key", message: expect.stringContaining("concord keys rotate") });
    if (step === "key-moved") expect(await readDir(dir)).toEqual(views);

    const again = concord(["keys", "rotate", "--data", dir]);
    expect(again.code, again.err).toBe(0);
    expect(await scanDirectory(dir, recorded, oldKey)).toMatchObject({ oldKeyIdsFound: 0, oldWrappedKeysOpened: 0, noncesFound: 0 });
    expect(await readDir(dir)).toEqual(views);
    expect(Buffer.from(await readKeyFile(keyFile)).equals(Buffer.from(newKey))).toBe(true);
    expect(await exists(`${keyFile}.new`)).toBe(false);
  });

  it("refuses to re-key a store halfway through a --rewrap-only rotation, which then finishes", async () => {
    const { dir, oldKey, views } = await populated(5);
    const keyFile = defaultKeyFile(dir);
    const newKey = await createKeyFile(`${keyFile}.new`);
    const store = await openLmdbStore({ path: storePath(dir) });
    let writes = 0;
    const failing: Store = { get: (k) => store.get(k), scan: (p) => store.scan(p), snapshot: () => store.snapshot(), close: () => store.close(), write: (b) => (++writes === 2 ? Promise.reject(new Error("power cut")) : store.write(b)) };
    await expect(rotateMasterKey(failing, oldKey, newKey, systemRandom, { batchSize: 3 })).rejects.toThrow("power cut");
    await store.close();

    const rekey = concord(["keys", "rotate", "--data", dir]);
    expect(rekey.code).toBe(2);
    expect(rekey.err).toContain("--rewrap-only");
    expect(await exists(rekeyPaths(dir).fresh)).toBe(false);
    const rewrap = concord(["keys", "rotate", "--data", dir, "--rewrap-only"]);
    expect(rewrap.code, rewrap.err).toBe(0);
    expect(Buffer.from(await readKeyFile(keyFile)).equals(Buffer.from(newKey))).toBe(true);
    expect(await readDir(dir)).toEqual(views);
  });

  it("holds the data-directory lock: a rotation while the region runs is refused and changes nothing", async () => {
    const { dir, views } = await populated(5);
    const running = await openDataDir({ dir });
    try {
      const rotate = concord(["keys", "rotate", "--data", dir]);
      expect(rotate.code).toBe(1);
      expect(rotate.err).toContain("[locked]");
      expect(await exists(`${defaultKeyFile(dir)}.new`)).toBe(false);
    } finally {
      await running.close();
    }
    expect(await readDir(dir)).toEqual(views);
  });
});
