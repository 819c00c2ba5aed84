/**
 * Finding 10: `concord keys rotate` on a real LMDB data directory holding
 * 100 documents of each kind (some compacted), written through a recording
 * store. After rotation, every file's raw bytes are scanned for data keys
 * wrapped under the old master key that still open with it, and for nonces of
 * records sealed before (test/helpers/old-key-scan.ts). Run for the default
 * rotation (re-key) and for --rewrap-only (which the README says shreds
 * nothing). "poisoned": old wrapped keys that open after the default rotation.
 */
import { spawnSync } from "node:child_process";
import * as Y from "yjs";
import { openReplica as openDataDir, storePath } from "../../src/node.ts";
import { openReplica } from "../../src/replica/replica.ts";
import { createKeyFile, defaultKeyFile } from "../../src/runtime/master-key.ts";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";
import { recordingStore, scanDirectory } from "../helpers/old-key-scan.ts";
import { tempDir } from "../helpers/replicas.ts";
import { bin } from "./regions.ts";
import { newRow, type Probe } from "./row.ts";

const { CONCORD_MASTER_KEY: _unused, ...env } = process.env;

async function rotated(docs: number, args: string[]) {
  const dir = await tempDir("concord-probe-rotate-");
  try {
    const oldKey = await createKeyFile(defaultKeyFile(dir.path));
    const recorded = recordingStore(await openLmdbStore({ path: storePath(dir.path) }));
    const replica = await openReplica({ store: recorded.store, masterKey: oldKey, compactMaxLogRecords: 4 });
    await Promise.all(Array.from({ length: docs }, async (_, i) => {
      await replica.create(`y${i}`, "yjs");
      for (let k = 0; k < (i % 3 === 0 ? 6 : 1); k++) await replica.change(`y${i}`, (d: Y.Doc) => d.getText("t").insert(0, `secret ${i}.${k} `));
      await replica.create(`a${i}`, "automerge", { init: { items: [`secret ${i}`] } });
    }));
    await replica.close();
    const result = spawnSync(process.execPath, [bin, "keys", "rotate", "--data", dir.path, ...args], { encoding: "utf8", env });
    const scan = await scanDirectory(dir.path, recorded, oldKey);
    const reopened = await openDataDir({ dir: dir.path });
    let readable = 0;
    for await (const id of reopened.list({ limit: 100_000 })) if (await reopened.read(id).then(() => true, () => false)) readable++;
    await reopened.close();
    return { code: result.status, stderr: result.stderr, scan, recordedNonces: recorded.nonces.size, dataKeys: recorded.docHashes.size, readable };
  } finally {
    await dir.remove();
  }
}

export const probe10: Probe = async ({ full }) => {
  const row = newRow(10, "old keys after keys rotate");
  const docs = full ? 500 : 100;
  const rekey = await rotated(docs, []);
  const rewrap = await rotated(docs, ["--rewrap-only"]);
  row.tried = 2;
  row.accepted = [rekey, rewrap].filter((r) => r.code === 0).length;
  row.crashed = 2 - row.accepted;
  row.poisoned = rekey.scan.oldWrappedKeysOpened;
  const line = (r: typeof rekey) => `old wrapped keys that open ${r.scan.oldWrappedKeysOpened} (${r.scan.openedDataKeys.size} distinct, of ${r.dataKeys} data keys), old record nonces ${r.scan.noncesFound} of ${r.recordedNonces}, ${r.readable} docs read after`;
  row.notes = `${2 * docs} documents; keys rotate: ${line(rekey)}; --rewrap-only: ${line(rewrap)}`;
  return row;
};
