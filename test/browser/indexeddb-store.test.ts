/**
 * The IndexedDB store in real Chromium: the Store conformance suite run in a
 * page (test/browser/store.page.ts), each of its tests reported here; plus what
 * only a real browser shows: writes durable across a browser restart and a
 * SIGKILL of the browser, one open store per name across tabs (Web Locks), and
 * a quota refusal that writes nothing and leaves the store usable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChromiumSession,
  type PageBundle,
  type PageServer,
  type TestPage,
  bundlePage,
  chromiumMissing,
  launchChromium,
  requireChromium,
  servePage,
} from "../helpers/browser.ts";
import type { PageTestResult } from "./page-vitest.ts";

type Batch = Array<[string, string | null] | { key: string; randomBytes: number }>;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: { code?: string }) => error.code ?? String(error),
  );
}

describe("IndexedDB store in Chromium", () => {
  let bundle: PageBundle | undefined;
  let server: PageServer | undefined;

  beforeAll(async () => {
    if (chromiumMissing()) return;
    bundle = await bundlePage("test/browser/store.page.ts", { alias: { vitest: "./test/browser/page-vitest.ts" } });
    server = await servePage(bundle.dir);
  });
  afterAll(async () => {
    await server?.close();
    await bundle?.remove();
  });

  /** Runs `fn` with a fresh Chromium (profile removed afterwards). */
  async function withChromium(fn: (session: ChromiumSession) => Promise<void>): Promise<void> {
    const session = await launchChromium();
    try {
      await fn(session);
    } finally {
      await session.close();
    }
  }

  it("passes the Store conformance suite", async (ctx) => {
    requireChromium(ctx);
    await withChromium(async (session) => {
      const page = await session.open(server!.url);
      const results = await page.call<PageTestResult[]>("runConformance");
      for (const r of results) console.log(`chromium ${r.status.padEnd(7)} ${r.durationMs.toFixed(0).padStart(6)} ms  ${r.name}`);
      expect(results.filter((r) => r.status !== "passed").map((r) => `${r.name}: ${r.status} ${r.error ?? ""}`)).toEqual([]);
      // The whole suite ran, not a part of it (each describe block of test/conformance/store.ts is there).
      for (const block of ["get and write", "batches", "scan", "snapshot", "copies", "lifecycle", "model"]) {
        expect(results.some((r) => r.name.includes(` > ${block} > `)), block).toBe(true);
      }
    });
  });

  it("keeps every resolved write across a browser restart and a SIGKILL of the browser", async (ctx) => {
    requireChromium(ctx);
    await withChromium(async (session) => {
      let page = await session.open(server!.url);
      await page.call("open", "s", "durable");
      await page.call("write", "s", [["01", "aa"], ["02", "bb"]]);
      await page.call("close", "s");
      await session.relaunch();
      page = await session.open(server!.url);
      await page.call("open", "s", "durable");
      expect(await page.call("entries", "s")).toEqual([["01", "aa"], ["02", "bb"]]);
      // Not closed this time: the browser dies right after the write resolved.
      await page.call("write", "s", [["02", null], ["03", "cc"]]);
      await session.killAndRelaunch();
      page = await session.open(server!.url);
      await page.call("open", "s", "durable");
      expect(await page.call("entries", "s")).toEqual([["01", "aa"], ["03", "cc"]]);
    });
  });

  it("refuses a second open store of one name, in this tab or another, with locked until the first closes", async (ctx) => {
    requireChromium(ctx);
    await withChromium(async (session) => {
      const first = await session.open(server!.url);
      const second = await session.open(server!.url);
      await first.call("open", "a", "shared");
      await first.call("write", "a", [["01", "01"]]);
      expect(await codeOf(first.call("open", "b", "shared"))).toBe("locked");
      expect(await codeOf(second.call("open", "b", "shared"))).toBe("locked");
      // Another name is another lock.
      await second.call("open", "other", "not-shared");
      await first.call("close", "a");
      await second.call("open", "b", "shared");
      expect(await second.call("entries", "b")).toEqual([["01", "01"]]);
      // A tab that goes away releases its lock with it (soon after: the browser tears the tab down asynchronously).
      await second.page.close();
      await first.call("lockFreed", "shared");
      await first.call("open", "c", "shared");
    });
  });

  it("refuses a write over the origin's quota with storage_full, writes none of that batch, and takes writes again once there is room", async (ctx) => {
    requireChromium(ctx);
    await withChromium(async (session) => {
      const page: TestPage = await session.open(server!.url);
      const quotaBytes = 8 * 1024 * 1024;
      const cdp = await session.context.newCDPSession(page.page);
      await cdp.send("Storage.overrideQuotaForOrigin", { origin: server!.origin, quotaSize: quotaBytes });
      await page.call("open", "s", "quota");
      await page.call("write", "s", [["00", "01"]]);
      const chunkBytes = 1024 * 1024;
      let written = 0;
      let refused: string | undefined;
      // Each batch: a small entry and a 1 MiB one. At most twice the quota's worth before something must give.
      for (let i = 1; i <= 16 && refused === undefined; i++) {
        const key = i.toString(16).padStart(2, "0");
        const batch: Batch = [[`f0${key}`, "ff"], { key: `e0${key}`, randomBytes: chunkBytes }];
        const code = await codeOf(page.call("write", "s", batch));
        if (code === "resolved") written = i;
        else refused = code;
      }
      console.log(`quota ${quotaBytes} bytes: ${written} batches of 1 MiB written, then ${refused}`);
      expect(refused).toBe("storage_full");
      expect(written).toBeGreaterThan(0);
      const entries = await page.call<Array<[string, string]>>("entries", "s");
      const keys = entries.map(([k]) => k);
      const failed = (written + 1).toString(16).padStart(2, "0");
      expect(keys).not.toContain(`e0${failed}`);
      expect(keys).not.toContain(`f0${failed}`);
      expect(keys.length).toBe(1 + 2 * written);
      // Make room, and the store takes writes again.
      await page.call("write", "s", Array.from({ length: written }, (_, i) => [`e0${(i + 1).toString(16).padStart(2, "0")}`, null]));
      await page.call("write", "s", [{ key: "d0", randomBytes: chunkBytes }]);
      expect((await page.call<Array<[string, string]>>("entries", "s")).map(([k]) => k)).toContain("d0");
    });
  });
});
