/**
 * An embedded replica in real Chromium (test/browser/replica.page.ts): the
 * browser entry on IndexedDB with a device key, both engines; the documents
 * survive a page reload and a browser restart; a wrong passphrase is refused
 * and the right one still opens; and nothing readable is in IndexedDB: every
 * database of the origin is dumped from the page and grepped for the canary
 * ids and contents, raw and in base64, with a plaintext control proving the
 * grep finds what is there.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PageBundle, type PageServer, bundlePage, chromiumMissing, launchChromium, requireChromium, servePage } from "../helpers/browser.ts";

type Dumped =
  | { bytes: string }
  | { string: string }
  | { number: number }
  | { boolean: boolean }
  | { null: true }
  | { cryptoKey: { type: string; extractable: boolean; algorithm: string } }
  | { array: Dumped[] }
  | { object: Array<[string, Dumped]> }
  | { other: string };
type DatabaseDump = { name: string; records: Array<{ store: string; key: Dumped; value: Dumped }> };

/** Every byte string and every string (as UTF-8) in a dumped value. */
function blobsOf(value: Dumped, out: Buffer[] = []): Buffer[] {
  if ("bytes" in value) out.push(Buffer.from(value.bytes, "hex"));
  else if ("string" in value) out.push(Buffer.from(value.string, "utf8"));
  else if ("array" in value) value.array.forEach((v) => blobsOf(v, out));
  else if ("object" in value) value.object.forEach(([k, v]) => (out.push(Buffer.from(k, "utf8")), blobsOf(v, out)));
  else if ("other" in value) out.push(Buffer.from(value.other, "utf8"));
  return out;
}

/**
 * What a secret looks like if it is stored readable: its UTF-8 and UTF-16
 * bytes, and its base64 and base64url text at each of the three alignments it
 * could have inside a longer encoded value.
 */
function needlesOf(secret: string): Array<{ form: string; bytes: Buffer }> {
  const raw = Buffer.from(secret, "utf8");
  const out = [
    { form: "utf8", bytes: raw },
    { form: "utf16le", bytes: Buffer.from(secret, "utf16le") },
    { form: "hex", bytes: Buffer.from(raw.toString("hex"), "utf8") },
  ];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), raw]).toString("base64");
    // Only the characters made of the secret's bits alone, whatever came before it.
    const inner = encoded.slice(Math.ceil((shift * 8) / 6), Math.floor(((shift + raw.length) * 8) / 6));
    out.push({ form: `base64+${shift}`, bytes: Buffer.from(inner, "utf8") });
    out.push({ form: `base64url+${shift}`, bytes: Buffer.from(inner.replace(/\+/g, "-").replace(/\//g, "_"), "utf8") });
  }
  return out;
}

/** Where any needle of any secret occurs in `blobs`, as "secret (form)". */
function findSecrets(blobs: readonly Buffer[], secrets: readonly string[]): string[] {
  const hits: string[] = [];
  for (const secret of secrets) {
    for (const { form, bytes } of needlesOf(secret)) if (blobs.some((b) => b.includes(bytes))) hits.push(`${secret} (${form})`);
  }
  return hits;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe("embedded replica in Chromium", () => {
  let bundle: PageBundle | undefined;
  let server: PageServer | undefined;

  beforeAll(async () => {
    if (chromiumMissing()) return;
    bundle = await bundlePage("test/browser/replica.page.ts");
    server = await servePage(bundle.dir);
  });
  afterAll(async () => {
    await server?.close();
    await bundle?.remove();
  });

  it("keeps both engines' documents across a page reload and a browser restart, and nothing readable is in IndexedDB", async (ctx) => {
    requireChromium(ctx);
    const tag = randomBytes(12).toString("hex");
    const id = `canary-doc-${tag}`;
    const text = `canary-text-${tag} the launch code is 0000`;
    const session = await launchChromium();
    try {
      let page = await session.open(server!.url);
      await page.call("open", "app", { webCrypto: true });
      await page.call("write", id, text);
      const expected = { yjs: { body: text }, automerge: { notes: [text], title: text } };
      expect({ yjs: await page.call("read", id), automerge: await page.call("read", `${id}-am`) }).toEqual(expected);
      await page.call("close");

      await page.reload();
      await page.call("open", "app", { webCrypto: true });
      expect({ yjs: await page.call("read", id), automerge: await page.call("read", `${id}-am`) }).toEqual(expected);
      expect((await page.call<string[]>("list")).sort()).toEqual([id, `${id}-am`]);
      await page.call("close");

      await session.relaunch();
      page = await session.open(server!.url);
      await page.call("open", "app", { webCrypto: true });
      expect({ yjs: await page.call("read", id), automerge: await page.call("read", `${id}-am`) }).toEqual(expected);
      await page.call("close");

      // The grep: every database of the origin, dumped through IndexedDB from the page.
      await page.call("writePlain", "control", id, text);
      const dumps = await page.call<DatabaseDump[]>("dumpAll");
      const app = dumps.find((d) => d.name === "app")!;
      const control = dumps.find((d) => d.name === "control")!;
      expect(dumps.map((d) => d.name).sort()).toEqual(["app", "control"]);
      const appBlobs = app.records.flatMap((r) => [...blobsOf(r.key), ...blobsOf(r.value)]);
      const stores = new Set(app.records.map((r) => r.store));
      console.log(`IndexedDB "app": ${app.records.length} records in ${[...stores].join(", ")}, ${appBlobs.reduce((n, b) => n + b.length, 0)} bytes`);
      // Not vacuous: the dump holds the entries and the device key record, and the grep finds plaintext where it is.
      expect([...stores].sort()).toEqual(["device-keys", "entries"]);
      expect(app.records.filter((r) => r.store === "entries").length).toBeGreaterThan(4);
      const controlBlobs = control.records.flatMap((r) => [...blobsOf(r.key), ...blobsOf(r.value)]);
      expect(findSecrets(controlBlobs, [id, text]).filter((h) => h.endsWith("(utf8)"))).toEqual([`${id} (utf8)`, `${text} (utf8)`]);
      expect(findSecrets(app.records.flatMap((r) => blobsOf(r.key)), [id])).toEqual([]);
      expect(findSecrets(appBlobs, [id, text, tag])).toEqual([]);
      // The wrapping key is a CryptoKey no script can export.
      const keyRecord = app.records.find((r) => r.store === "device-keys")!.value as { object: Array<[string, Dumped]> };
      expect(Object.fromEntries(keyRecord.object)["wrappingKey"]).toEqual({ cryptoKey: { type: "secret", extractable: false, algorithm: "AES-GCM" } });
    } finally {
      await session.close().catch(() => undefined);
    }
  });

  it("opens with the right passphrase only: a wrong one is refused with wrong_key and the right one opens after it", async (ctx) => {
    requireChromium(ctx);
    const session = await launchChromium();
    try {
      const page = await session.open(server!.url);
      await page.call("open", "vault", { passphrase: "correct horse battery staple" });
      await page.call("write", "diary", "dear diary");
      await page.call("close");
      await page.reload();
      const wrong = await page.call("open", "vault", { passphrase: "Correct horse battery staple" }).then(
        () => "opened",
        (e: { code?: string }) => e.code,
      );
      expect(wrong).toBe("wrong_key");
      // The failed open let go of the store's lock: the right passphrase opens it in the same page.
      await page.call("open", "vault", { passphrase: "correct horse battery staple" });
      expect(await page.call("read", "diary")).toEqual({ body: "dear diary" });
      await page.call("close");
    } finally {
      await session.close();
    }
  });

  it("leaves no canary readable in the browser profile on disk", async (ctx) => {
    requireChromium(ctx);
    const tag = randomBytes(12).toString("hex");
    const session = await launchChromium();
    let closed = false;
    try {
      const page = await session.open(server!.url);
      await page.call("open", "app", { webCrypto: true });
      for (let i = 0; i < 20; i++) await page.call("write", `canary-doc-${tag}-${i}`, `canary-text-${tag}-${i}`);
      await page.call("close");
      // The control: plaintext stored as it is must be found on disk, or this grep proves nothing.
      const control = `control-${randomBytes(12).toString("hex")}`;
      await page.call("writePlain", "control", control, control);
      await session.relaunch(); // flushes and closes IndexedDB's files
      await session.context.close();
      closed = true;
      const files = await filesUnder(session.userDataDir);
      const indexedDbFiles = files.filter((f) => f.includes("IndexedDB"));
      expect(indexedDbFiles.length).toBeGreaterThan(0);
      const hits: string[] = [];
      let controlFound = false;
      for (const file of files) {
        const bytes = await readFile(file).catch(() => Buffer.alloc(0));
        for (const hit of findSecrets([bytes], [`canary-doc-${tag}`, `canary-text-${tag}`, tag])) hits.push(`${file}: ${hit}`);
        controlFound ||= findSecrets([bytes], [control]).length > 0;
      }
      console.log(`profile: ${files.length} files, ${indexedDbFiles.length} under IndexedDB`);
      expect(controlFound, "the plaintext control was not found on disk: the grep cannot see IndexedDB's files").toBe(true);
      expect(hits).toEqual([]);
    } finally {
      if (closed) await session.close().catch(() => undefined);
      else await session.close();
    }
  });
});
