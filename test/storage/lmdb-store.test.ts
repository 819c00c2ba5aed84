import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, truncate, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isConcordError, type ErrorCode } from "../../src/errors.ts";
import { bytesEqual, decodeU64 } from "../../src/storage/bytes.ts";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { runStoreConformance } from "../conformance/store.ts";
import { stormKey, stormTags, stormValue } from "./fixtures/write-storm-records.ts";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const makeTempDir = (): Promise<string> => mkdtemp(join(tmpdir(), "concord-lmdb-"));

runStoreConformance("lmdb", async () => {
  const dir = await makeTempDir();
  let store = await openLmdbStore({ path: dir });
  return {
    store,
    reopen: async (): Promise<Store> => {
      await store.close();
      store = await openLmdbStore({ path: dir });
      return store;
    },
    cleanup: async (): Promise<void> => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

async function openError(path: string): Promise<unknown> {
  return openLmdbStore({ path }).then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (e: unknown) => e,
  );
}

function expectConcordError(error: unknown, code: ErrorCode, mentions: string): void {
  expect(isConcordError(error, code), `expected ConcordError("${code}"), got ${String(error)}`).toBe(true);
  expect((error as Error).message).toContain(mentions);
}

describe("LMDB store", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a missing directory holding data.mdb and lock.mdb (and, once closed, clean-close.json), and keeps data across close and open", async () => {
    const path = join(dir, "nested", "store");
    let store = await openLmdbStore({ path });
    const writes = [];
    for (let i = 0; i < 500; i++) writes.push({ key: bytes(1, i >> 8, i & 0xff), value: new Uint8Array(i % 50).fill(i & 0xff) });
    await store.write(writes);
    await store.close();
    expect((await readdir(path)).sort()).toEqual(["clean-close.json", "data.mdb", "lock.mdb"]);
    store = await openLmdbStore({ path, mapSizeBytes: 1 << 20 });
    let count = 0;
    for await (const [key, value] of store.scan(bytes(1))) {
      const i = (key[1]! << 8) | key[2]!;
      expect(i).toBe(count++);
      expect(bytesEqual(value, new Uint8Array(i % 50).fill(i & 0xff))).toBe(true);
    }
    expect(count).toBe(500);
    await store.close();
  });

  it("refuses a second open of the same directory in one process until the first is closed", async () => {
    const store = await openLmdbStore({ path: dir });
    expectConcordError(await openError(dir), "unavailable", dir);
    await store.close();
    const again = await openLmdbStore({ path: dir });
    await again.close();
  });

  it("rejects a data.mdb that is not an LMDB file, naming the path", async () => {
    await writeFile(join(dir, "data.mdb"), new Uint8Array(64 * 1024).fill(0x41));
    expectConcordError(await openError(dir), "corrupt_record", join(dir, "data.mdb"));
    await writeFile(join(dir, "data.mdb"), "hello");
    expectConcordError(await openError(dir), "corrupt_record", join(dir, "data.mdb"));
  });

  it("rejects a truncated data.mdb and one of another format version", async () => {
    const store = await openLmdbStore({ path: dir });
    await store.write([{ key: bytes(1), value: bytes(1) }]);
    await store.close();
    const file = join(dir, "data.mdb");
    const original = await readFile(file);

    const versioned = Uint8Array.from(original);
    versioned[28] = 3; // MDB_meta.mm_version on the first meta page
    await writeFile(file, versioned);
    expectConcordError(await openError(dir), "corrupt_record", "version");

    await writeFile(file, original);
    await truncate(file, 4096);
    expectConcordError(await openError(dir), "corrupt_record", "truncated");
  });

  it("opens an empty data.mdb as a new store", async () => {
    await writeFile(join(dir, "data.mdb"), "");
    const store = await openLmdbStore({ path: dir });
    expect(await store.get(bytes(1))).toBeUndefined();
    await store.close();
  });

  it("rejects a path that is a file, or whose data.mdb is a directory", async () => {
    const file = join(dir, "plain-file");
    await writeFile(file, "x");
    expectConcordError(await openError(file), "unavailable", `${file} is not a directory`);
    const storeDir = join(dir, "store");
    await mkdir(join(storeDir, "data.mdb"), { recursive: true });
    expectConcordError(await openError(storeDir), "unavailable", storeDir);
  });

  it("rejects bad options", async () => {
    expectConcordError(await openLmdbStore({ path: "" }).catch((e: unknown) => e), "invalid_argument", "path");
    const error = await openLmdbStore({ path: dir, mapSizeBytes: -1 }).catch((e: unknown) => e);
    expectConcordError(error, "invalid_argument", "mapSizeBytes");
  });

  it(
    "has every acknowledged batch, whole and in order, after a SIGKILL mid-storm",
    async () => {
      const fixture = fileURLToPath(new URL("./fixtures/lmdb-write-storm.ts", import.meta.url));
      const child = spawn(process.execPath, ["--import", "tsx", fixture, dir], { stdio: ["ignore", "pipe", "pipe"] });
      const acked: number[] = [];
      const killAfterAcks = 300;
      try {
        await new Promise<void>((resolve, reject) => {
          let stderr = "";
          let buffered = "";
          child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()));
          child.stdout.on("data", (chunk: Buffer) => {
            buffered += chunk.toString();
            const lines = buffered.split("\n");
            buffered = lines.pop()!; // an incomplete last line is not an ack yet
            for (const line of lines) {
              const match = /^ack (\d+)$/.exec(line);
              if (match) acked.push(Number(match[1]));
            }
            if (acked.length >= killAfterAcks && child.signalCode === null) child.kill("SIGKILL");
          });
          child.on("exit", (code, signal) =>
            signal === "SIGKILL" ? resolve() : reject(new Error(`storm child exited early (${code}): ${stderr}`)),
          );
        });
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      expect(acked.length).toBeGreaterThanOrEqual(killAfterAcks);

      const store = await openLmdbStore({ path: dir });
      const present: Record<"a" | "b", number[]> = { a: [], b: [] };
      for (const tag of ["a", "b"] as const) {
        for await (const [key, value] of store.scan(bytes(stormTags[tag]))) {
          const n = decodeU64(key, 1);
          expect(bytesEqual(value, stormValue(n)), `value of ${tag}${n}`).toBe(true);
          present[tag].push(n);
        }
      }
      // Atomic: both halves of every batch, or neither.
      expect(present.b).toEqual(present.a);
      // In call order: the batches present are exactly the first few issued.
      expect(present.a).toEqual(present.a.map((_, i) => i));
      // Durable on ack: every acknowledged batch is there.
      const missing = acked.filter((n) => n >= present.a.length);
      expect(missing).toEqual([]);
      // And the store takes writes after the crash.
      await store.write([{ key: stormKey(stormTags.a, 1e9), value: bytes(1) }]);
      expect(await store.get(stormKey(stormTags.a, 1e9))).toEqual(bytes(1));
      await store.close();
    },
  );
});
