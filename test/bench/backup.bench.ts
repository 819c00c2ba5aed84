/**
 * Backup and restore throughput on LMDB, against the same store's plain scan
 * and plain batched writes measured in this run: what the archive's hashing,
 * framing and checks cost over moving the bytes.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { restoreRegion } from "../../src/server/region-backup.ts";
import { readBackup } from "../../src/storage/backup-reader.ts";
import { createBackup } from "../../src/storage/backup-writer.ts";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";
import type { StoreWrite } from "../../src/storage/store.ts";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { table, timed } from "./harness.ts";

const entries = 50_000;
const valueBytes = 2048;

export async function run(): Promise<string> {
  await loadSodium();
  const dir = await mkdtemp(join(tmpdir(), "concord-bench-backup-"));
  try {
    const random = createSeededRandom(7);
    const masterKey = random.bytes(32);
    const source = await openLmdbStore({ path: join(dir, "source") });
    await openKeyring(source, masterKey, random);
    const batches: StoreWrite[][] = [];
    for (let i = 0; i < entries; i += 1000) {
      batches.push(Array.from({ length: Math.min(1000, entries - i) }, (_, j) => ({ key: random.bytes(17), value: random.bytes(valueBytes) })));
    }
    const mib = (entries * (17 + valueBytes)) / (1 << 20);
    const rate = (ms: number) => `${(mib / (ms / 1000)).toFixed(0)} MiB/s`;

    const write = await timed(async () => {
      for (const batch of batches) await source.write(batch);
    });
    const scan = await timed(async () => {
      let n = 0;
      for await (const _ of source.scan(new Uint8Array(0))) n++;
      return n;
    });
    const archivePath = join(dir, "bench.ccbackup");
    const backup = await timed(async () => {
      const { chunks } = await createBackup({ snapshot: await source.snapshot(), masterKey, region: "bench", createdAt: 0, random });
      const file = await open(archivePath, "w");
      for await (const chunk of chunks) await file.writeFile(chunk);
      await file.sync();
      await file.close();
    });
    const verify = await timed(async () => {
      for await (const _ of readBackup(createReadStream(archivePath), { masterKey }));
    });
    const restore = await timed(() => restoreRegion({ archive: createReadStream(archivePath), dataDir: join(dir, "restored"), masterKey, random }));
    await source.close();
    const size = (await stat(archivePath)).size;
    return [
      `${entries.toLocaleString("en")} entries of ${valueBytes} B (${mib.toFixed(0)} MiB of keys and values); archive ${(size / (1 << 20)).toFixed(1)} MiB`,
      table([
        { step: "store.scan (baseline)", ms: scan.ms.toFixed(0), rate: rate(scan.ms), "× baseline": "1.00" },
        { step: "backup to file, fsynced", ms: backup.ms.toFixed(0), rate: rate(backup.ms), "× baseline": (backup.ms / scan.ms).toFixed(2) },
        { step: "restore --verify", ms: verify.ms.toFixed(0), rate: rate(verify.ms), "× baseline": (verify.ms / scan.ms).toFixed(2) },
        { step: "batched store.write (baseline)", ms: write.ms.toFixed(0), rate: rate(write.ms), "× baseline": "1.00" },
        { step: "restore", ms: restore.ms.toFixed(0), rate: rate(restore.ms), "× baseline": (restore.ms / write.ms).toFixed(2) },
      ]),
    ].join("\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
