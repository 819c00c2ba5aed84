import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openLmdbStore } from "../../src/storage/lmdb-store.ts";

// Each damage below, opened by lmdb-js without the check, kills the process (see fixtures/lmdb-raw-open.ts):
// truncation gives SIGBUS, a zeroed page "Assertion 'IS_LEAF(mp)' failed", and swapped pages read wrong data.
const pageBytes = 4096;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "concord-lmdb-check-"));
  const store = await openLmdbStore({ path: dir });
  for (let b = 0; b < 8; b++) {
    const writes = [];
    for (let i = 0; i < 50; i++) writes.push({ key: Uint8Array.of(1, b, i), value: new Uint8Array(100 + ((i * 37) % 3000)).fill(i) });
    await store.write(writes);
  }
  await store.close();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function damage(edit: (file: Uint8Array) => Uint8Array): Promise<void> {
  const file = join(dir, "data.mdb");
  await writeFile(file, edit(Uint8Array.from(await readFile(file))));
}

async function refusal(): Promise<{ code: string; message: string }> {
  try {
    await (await openLmdbStore({ path: dir })).close();
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error("the damaged store opened");
}

const pages = (file: Uint8Array) => file.length / pageBytes;

describe("a damaged LMDB data file", () => {
  it("is refused, naming the file and the way out, when truncated past its last used page", async () => {
    await damage((f) => f.subarray(0, Math.floor(pages(f) / 2) * pageBytes));
    const error = await refusal();
    expect(error).toMatchObject({ code: "corrupt_record" });
    expect(error.message).toContain(join(dir, "data.mdb"));
    expect(error.message).toMatch(/truncated/);
    expect(error.message).toMatch(/concord repair --data DIR/);
  });

  it("is refused when it ends inside an overflow run (the check reads only a run's first page)", async () => {
    const store = await openLmdbStore({ path: dir });
    await store.write([{ key: Uint8Array.of(2), value: new Uint8Array(40_000).fill(7) }]);
    await store.close();
    let head = -1;
    await damage((f) => {
      const view = new DataView(f.buffer);
      for (let p = 2; p < pages(f) && head < 0; p++) {
        const isRunHead = (view.getUint16(p * pageBytes + 18, true) & 0x04) !== 0 && view.getUint32(p * pageBytes, true) === p;
        if (isRunHead && view.getUint32(p * pageBytes + 20, true) === 10) head = p;
      }
      // The run's last pages are gone; its first page and everything before it are intact.
      return f.subarray(0, (head + 5) * pageBytes);
    });
    expect(head).toBeGreaterThan(1);
    expect(await refusal()).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(new RegExp(`truncated: page ${head},`)) });
  });

  it("is refused when a page of its tree is zeroed", async () => {
    await damage((f) => f.fill(0, 2 * pageBytes, 3 * pageBytes));
    expect(await refusal()).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/page 2 holds page 0/) });
  });

  it("is refused when two pages are swapped", async () => {
    await damage((f) => {
      const page = f.slice(2 * pageBytes, 3 * pageBytes);
      f.copyWithin(2 * pageBytes, 3 * pageBytes, 4 * pageBytes);
      f.set(page, 3 * pageBytes);
      return f;
    });
    expect(await refusal()).toMatchObject({ code: "corrupt_record" });
  });

  it("is refused when its two meta pages are swapped (LMDB would then commit over its newest state: TAMPER_SEED=1941879447)", async () => {
    await damage((f) => {
      const meta0 = f.slice(0, pageBytes);
      f.copyWithin(0, pageBytes, 2 * pageBytes);
      f.set(meta0, pageBytes);
      return f;
    });
    expect(await refusal()).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/meta page 0 holds meta page 1/) });
  });

  it("is refused when the older meta page's transaction id is damaged upwards (LMDB would open the older state)", async () => {
    await damage((f) => {
      const view = new DataView(f.buffer);
      const older = view.getUint32(152, true) < view.getUint32(pageBytes + 152, true) ? 0 : 1;
      view.setUint8(older * pageBytes + 159, view.getUint8(older * pageBytes + 159) ^ 0x40);
      return f;
    });
    expect(await refusal()).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/not two consecutive ones/) });
  });

  it("is refused when a page claims a transaction after the last one (LMDB would write into it in place: SIGSEGV)", async () => {
    await damage((f) => {
      f[2 * pageBytes + 15]! ^= 0x10;
      return f;
    });
    expect(await refusal()).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/page 2 claims transaction/) });
  });

  it("is refused when a leaf node's data size is damaged upwards (LMDB would write a new value over its neighbour)", async () => {
    let damaged = -1;
    await damage((f) => {
      const view = new DataView(f.buffer);
      for (let p = 2; p < pages(f) && damaged < 0; p++) {
        const base = p * pageBytes;
        const nodes = view.getUint16(base + 20, true) / 2;
        if ((view.getUint16(base + 18, true) & 0x07) !== 0x02 || nodes < 2) continue; // a leaf page
        const first = base + 24 + view.getUint16(base + 22, true); // the lowest node, just above the free space
        if ((view.getUint16(first + 4, true) & 0x03) !== 0) continue; // plain data only
        view.setUint16(first, view.getUint16(first, true) + 64, true);
        damaged = p;
      }
      return f;
    });
    expect(damaged).toBeGreaterThan(1);
    expect(await refusal()).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(new RegExp(`page ${damaged} has nodes that overlap`)) });
  });

  it("is refused when the meta page LMDB would pick is damaged", async () => {
    await damage((f) => {
      // The second meta page with the larger txnid (LMDB would use it unchecked) and a bad magic number.
      const view = new DataView(f.buffer);
      view.setUint32(pageBytes + 152, view.getUint32(152, true) + view.getUint32(pageBytes + 152, true) + 1, true);
      view.setUint32(pageBytes + 24, 0, true);
      return f;
    });
    expect(await refusal()).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/meta page 1/) });
  });

  it("still opens when intact, with every entry", async () => {
    const store = await openLmdbStore({ path: dir });
    let n = 0;
    for await (const _ of store.scan(Uint8Array.of(1))) n++;
    expect(n).toBe(400);
    await store.close();
  });
});
