/**
 * Salvage for `concord repair`: copies every entry that can still be read
 * from a (possibly damaged) LMDB directory into another store, without ever
 * mapping the damaged file (lmdb-file-check.ts reads it with plain reads and
 * skips damaged pages), so no damage can crash the process doing it.
 */
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";
import { lmdbDataFile } from "./lmdb-env-check.ts";
import { salvageLmdbFile } from "./lmdb-file-check.ts";
import type { Store, StoreWrite } from "./store.ts";

export interface SalvageReport {
  /** Entries copied. */
  entries: number;
  /** Entries the file's own record says it holds (what salvage aimed for). */
  expected: number;
  /** One line per damaged page or meta page skipped. */
  damage: string[];
  /** False when no meta page was usable (or there was no data file): nothing could be read. */
  readable: boolean;
}

const batchEntries = 1000;

/** Copies what can be read from `dir`'s data.mdb into `into`. Throws ConcordError("unavailable") if the file cannot be opened. */
export async function salvageLmdbStore(dir: string, into: Store, onProgress: (done: number, total: number) => void = () => {}): Promise<SalvageReport> {
  const file = join(dir, lmdbDataFile);
  const report: SalvageReport = { entries: 0, expected: 0, damage: [], readable: false };
  const exists = await stat(file).then(() => true, () => false);
  if (!exists) return report;
  const handle = await open(file, "r").catch((cause: Error) => {
    throw new ConcordError("unavailable", `cannot open ${file}: ${cause.message}`, { cause });
  });
  const batch: StoreWrite[] = [];
  try {
    report.readable = await salvageLmdbFile(handle, {
      async entry(key, value) {
        batch.push({ key, value });
        report.entries++;
        if (batch.length >= batchEntries) {
          await into.write(batch.splice(0));
          onProgress(report.entries, Math.max(report.expected, report.entries));
        }
      },
      damage: (message) => void report.damage.push(message),
      expect: (entries) => void (report.expected = entries),
    });
    await into.write(batch);
    onProgress(report.entries, Math.max(report.expected, report.entries));
  } finally {
    await handle.close();
  }
  return report;
}
