import { createHash } from "node:crypto";
import { access, cp, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanCloseFile } from "../../src/storage/lmdb-clean-close.ts";
import { checkLmdbDirectory } from "../../src/storage/lmdb-env-check.ts";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";

const pageBytes = 4096;
let dir: string;
const record = () => join(dir, cleanCloseFile);
const exists = (path: string) => access(path).then(() => true, () => false);

async function fill(path: string): Promise<void> {
  const store = await openLmdbStore({ path });
  for (let b = 0; b < 4; b++) {
    await store.write(Array.from({ length: 50 }, (_, i) => ({ key: Uint8Array.of(1, b, i), value: new Uint8Array(100 + ((i * 37) % 3000)).fill(i) })));
  }
  await store.close();
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "concord-clean-close-"));
  await fill(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("an LMDB store's clean-close record", () => {
  it("lets the open after a clean close skip the page walk, once: the record is taken at open", async () => {
    expect(await exists(record())).toBe(true);
    expect(await checkLmdbDirectory(dir)).toBe("clean-close");
    expect(await exists(record())).toBe(false);
    // No record now, as after a crash of the run that took it: the next open walks every page.
    expect(await checkLmdbDirectory(dir)).toBe("walked");
  });

  it("is gone while the store is open, so a crash leaves none, and back after the next clean close", async () => {
    const store = await openLmdbStore({ path: dir });
    expect(await exists(record())).toBe(false);
    await store.write([{ key: Uint8Array.of(2), value: Uint8Array.of(1) }]);
    await store.close();
    expect(await checkLmdbDirectory(dir)).toBe("clean-close");
  });

  it("does not vouch for a file written after the close, however soon (the write is found by the walk)", async () => {
    for (let round = 0; round < 10; round++) {
      await (await openLmdbStore({ path: dir })).close();
      // At once, likely in the same file-system clock tick as the close: page 2 claims a later transaction.
      const file = join(dir, "data.mdb");
      const bytes = await readFile(file);
      bytes[2 * pageBytes + 15]! ^= 0x10;
      await writeFile(file, bytes);
      await expect(openLmdbStore({ path: dir })).rejects.toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/page 2 claims transaction/) });
      bytes[2 * pageBytes + 15]! ^= 0x10;
      await writeFile(file, bytes);
    }
  });

  it("does not vouch for a copy of the directory (another file), nor for a record that does not parse", async () => {
    const copy = `${dir}-copy`;
    try {
      await cp(dir, copy, { recursive: true });
      expect(await exists(join(copy, cleanCloseFile))).toBe(true);
      expect(await checkLmdbDirectory(copy)).toBe("walked");
      expect(await exists(join(copy, cleanCloseFile))).toBe(false);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
    await writeFile(record(), "{ not json");
    expect(await checkLmdbDirectory(dir)).toBe("walked");
    expect(await exists(record())).toBe(false);
  });

  it("still checks the meta pages, even with a record forged to match the damaged file", async () => {
    const file = join(dir, "data.mdb");
    const bytes = await readFile(file);
    bytes[24]! ^= 0xff; // meta page 0's magic
    await writeFile(file, bytes);
    const stats = await stat(file, { bigint: true });
    const forged = JSON.stringify({
      version: 1, dev: String(stats.dev), ino: String(stats.ino), size: String(stats.size), mtimeNs: String(stats.mtimeNs), ctimeNs: String(stats.ctimeNs),
      metaSha256: createHash("sha256").update(bytes.subarray(0, 2 * pageBytes)).digest("hex"),
    });
    // Rewritten until the file system's clock has moved past the data file's change, so the record is not racy.
    do await writeFile(record(), forged);
    while ((await stat(record(), { bigint: true })).ctimeNs <= stats.ctimeNs);
    await expect(openLmdbStore({ path: dir })).rejects.toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/meta page 0 has a bad magic/) });
  });

  it("opens with every entry after a clean close", async () => {
    const store = await openLmdbStore({ path: dir });
    let n = 0;
    for await (const _ of store.scan(Uint8Array.of(1))) n++;
    expect(n).toBe(200);
    await store.close();
  });
});
