import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadSodium, sodium } from "../../src/crypto/sodium.ts";
import { isConcordError } from "../../src/errors.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { readBackup, type BackupEvent } from "../../src/storage/backup-reader.ts";
import { createBackup } from "../../src/storage/backup-writer.ts";
import { toHex } from "../../src/storage/bytes.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { StoreWrite } from "../../src/storage/store.ts";

const masterKey = createSeededRandom(1).bytes(32);
const otherKey = createSeededRandom(2).bytes(32);
const regionSecretKey = createSeededRandom(3).bytes(32);

async function archiveOf(writes: StoreWrite[], withRegionKey = true): Promise<Uint8Array> {
  const store = createMemoryStore();
  await store.write(writes);
  const snapshot = await store.snapshot();
  const backup = await createBackup({
    snapshot,
    masterKey,
    region: "us-east",
    createdAt: 1_700_000_000_000,
    random: createSeededRandom(4),
    ...(withRegionKey ? { regionSecretKey } : {}),
  });
  const chunks: Uint8Array[] = [];
  for await (const chunk of backup.chunks) chunks.push(chunk);
  expect(await snapshot.entries()[Symbol.asyncIterator]().next().catch((e: unknown) => isConcordError(e, "closed"))).toBe(true);
  return Buffer.concat(chunks);
}

/** Feeds `bytes` in awkward chunk sizes, so parsing never relies on chunk boundaries. */
async function* chunked(bytes: Uint8Array, size = 7): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

/** Reads a whole archive; `key` null checks it without a master key. */
async function readAll(bytes: Uint8Array, key: Uint8Array | null = masterKey, size = 7): Promise<BackupEvent[]> {
  const events: BackupEvent[] = [];
  for await (const event of readBackup(chunked(bytes, size), { ...(key ? { masterKey: key } : {}), batchBytes: 64 })) events.push(event);
  return events;
}

async function errorCodeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isConcordError(error)) throw new Error(`expected a ConcordError, got ${String(error)}`);
  return error.code;
}

const entriesOf = (events: BackupEvent[]) => events.flatMap((e) => (e.type === "entries" ? e.entries.map(([k, v]) => [toHex(k), toHex(v)]) : []));

const sample: StoreWrite[] = [
  { key: Uint8Array.of(1), value: Uint8Array.of(9, 9) },
  { key: Uint8Array.of(1, 2), value: new Uint8Array(0) },
  { key: Uint8Array.of(0xff, 0), value: Uint8Array.of(7) },
];

describe("backup archive", () => {
  beforeAll(loadSodium);

  it("round-trips any store contents, with header and region key, in any chunking", async () => {
    const entryArb = fc.record({ key: fc.uint8Array({ minLength: 1, maxLength: 40 }), value: fc.uint8Array({ maxLength: 300 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 60 }), fc.integer({ min: 1, max: 5000 }), async (writes, chunkSize) => {
        const expected = new Map(writes.map((w) => [toHex(w.key), toHex(w.value!)]));
        const events = await readAll(await archiveOf(writes), masterKey, chunkSize);
        const header = events[0];
        expect(header?.type === "header" && header.header).toMatchObject({ region: "us-east", createdAt: 1_700_000_000_000, entries: expected.size });
        const regionKey = events.find((e) => e.type === "region-key");
        expect(regionKey?.type === "region-key" && toHex(regionKey.secretKey)).toBe(toHex(regionSecretKey));
        expect(entriesOf(events)).toEqual([...expected].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        expect(events.at(-1)).toEqual({ type: "end", entries: expected.size });
      }),
      { numRuns: 100 },
    );
  });

  it("checks structure and checksum without a key, and has no region-key event then", async () => {
    const events = await readAll(await archiveOf(sample), null);
    expect(events.map((e) => e.type)).toEqual(["header", "entries", "end"]);
  });

  it("rejects every truncation as corrupt_record, never reaching the end event", async () => {
    const archive = await archiveOf(sample);
    for (let length = 0; length < archive.length; length++) {
      expect(await errorCodeOf(readAll(archive.subarray(0, length))), `prefix of ${length} bytes`).toBe("corrupt_record");
    }
  });

  it("rejects every flipped byte and trailing garbage, never reaching the end event", async () => {
    const archive = await archiveOf(sample);
    for (let at = 0; at < archive.length; at++) {
      const damaged = archive.slice();
      damaged[at]! ^= 0x40;
      expect(["corrupt_record", "wrong_key", "unsupported"], `byte ${at}`).toContain(await errorCodeOf(readAll(damaged)));
    }
    expect(await errorCodeOf(readAll(Buffer.concat([archive, Uint8Array.of(0)])))).toBe("corrupt_record");
  });

  it("refuses another master key with wrong_key before handing out any entry", async () => {
    const events: string[] = [];
    const code = await errorCodeOf(
      (async () => {
        for await (const event of readBackup(chunked(await archiveOf(sample)), { masterKey: otherKey })) events.push(event.type);
      })(),
    );
    expect(code).toBe("wrong_key");
    expect(events).toEqual([]);
  });

  it("refuses an archive altered and re-checksummed by someone without the master key", async () => {
    const archive = await archiveOf(sample, false);
    // Drop the last entry's value byte 7 → 8 and recompute the plain checksum: only the mac can tell.
    const body = archive.slice(0, archive.length - 64);
    const at = body.lastIndexOf(7);
    body[at] = 8;
    const forged = Buffer.concat([body, sodium().crypto_generichash(32, body, null), archive.subarray(archive.length - 32)]);
    expect((await readAll(forged, null)).at(-1)?.type).toBe("end"); // the checksum alone is fooled
    expect(await errorCodeOf(readAll(forged))).toBe("wrong_key");
  });
});
