import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { repairCommand } from "../../src/cli/repair.ts";
import { createKeyFile, defaultKeyFile, openReplica, storePath } from "../../src/node.ts";

let dir: string;
let masterKey: Uint8Array;
const pageBytes = 4096;
const ids = Array.from({ length: 40 }, (_, i) => `doc-${i}`);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "concord-repair-"));
  masterKey = await createKeyFile(defaultKeyFile(dir));
  const replica = await openReplica({ dir, masterKey, region: "r" });
  for (const id of ids) {
    await replica.create(id, "yjs");
    await replica.change(id, (d: Y.Doc) => d.getText("t").insert(0, `${id} `.repeat(40)));
  }
  await replica.close();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the command with its output captured. */
async function repair(args: string[]): Promise<{ code: number; out: string }> {
  const writes: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return { code: await repairCommand.run(args), out: writes.join("") };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

describe("concord repair", () => {
  it("rebuilds a store whose data file is refused, keeping every intact document and dropping the damaged ones", async () => {
    const file = join(storePath(dir), "data.mdb");
    const original = await readFile(file);
    // Zero the last leaf page of the tree whose keys are all documents' records (>= "L": not the keyring, which
    // would leave nothing readable); a freed page would not matter, nothing reads it, so try until one is refused.
    for (let at = original.length - pageBytes; ; at -= pageBytes) {
      if (at < 2 * pageBytes) throw new Error("no leaf page of document records found");
      const bytes = Uint8Array.from(original);
      const view = new DataView(bytes.buffer);
      const firstKeyByte = bytes[at + 24 + view.getUint16(at + 24, true) + 8];
      if (view.getUint16(at + 18, true) !== 0x02 || firstKeyByte === undefined || firstKeyByte < 0x4c) continue;
      await writeFile(file, bytes.fill(0, at, at + pageBytes));
      const refused = await openReplica({ dir, masterKey, region: "r" }).then((r) => r.close().then(() => undefined), (error: unknown) => error);
      if (refused) {
        expect(refused).toMatchObject({ code: "corrupt_record", message: expect.stringMatching(/concord repair/) });
        break;
      }
    }

    const { code, out } = await repair(["--data", dir]);
    expect(code).toBe(0);
    expect(out).toMatch(/kept \d+ intact document/);
    expect((await readdir(dir)).some((name) => name.startsWith("store-damaged-"))).toBe(true);

    const replica = await openReplica({ dir, masterKey, region: "r" });
    let intact = 0;
    for (const id of ids) {
      // Every document is either served whole or absent (to be fetched from a peer): never wrong, never half.
      try {
        expect((await replica.read(id)).value).toEqual({ t: `${id} `.repeat(40) });
        intact++;
      } catch (error) {
        expect(error).toMatchObject({ code: "not_found" });
      }
    }
    expect(out).toContain(`kept ${intact} intact`);
    expect(intact).toBeGreaterThan(0);
    await replica.close();
  });

  it("keeps everything of an intact store", async () => {
    const { code, out } = await repair(["--data", dir]);
    expect(code).toBe(0);
    expect(out).toContain(`kept ${ids.length} intact document(s); dropped 0`);
  });
});
