/**
 * The sync client in real Chromium against real `concord serve` processes:
 * an edit made with the network blocked survives a page reload and reaches
 * both regions once the network is back, with nothing readable in IndexedDB;
 * two pages homed on two regions converge on both kinds; killing one page's
 * home region fails it over, and a read with its token there sees its writes.
 * The network is a TCP proxy per region (test/helpers/fault-proxy.ts), so
 * "blocked" resets the page's sockets while the page itself still loads.
 */
import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundlePage, chromiumMissing, launchChromium, requireChromium, servePage, type ChromiumSession, type PageBundle, type PageServer, type TestPage } from "../helpers/browser.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { regionValueUntil } from "../client/sync-helpers.ts";
import { poll } from "../server/processes.ts";
import { startTokenCluster, type TokenCluster } from "../client/token-cluster.ts";

const portOf = (url: string) => Number(new URL(url).port);
type Status = { state: string; home: boolean; pendingWrites: number; region?: string };

describe("sync client in Chromium", () => {
  let cluster: TokenCluster | undefined;
  let bundle: PageBundle | undefined;
  let server: PageServer | undefined;
  let session: ChromiumSession | undefined;
  const proxies: FaultProxy[] = [];

  beforeAll(async () => {
    if (chromiumMissing()) return;
    bundle = await bundlePage("test/browser/client.page.ts");
    server = await servePage(bundle.dir);
    cluster = await startTokenCluster(["east", "west"], "concord-browser-sync-");
    // The page comes from another origin than the regions (and reaches them through proxies): allow it.
    cluster.serveFlags.push("--allow-origins", server.origin);
    await Promise.all([cluster.serve("east"), cluster.serve("west")]);
    session = await launchChromium();
  }, 600_000);
  afterAll(async () => {
    await session?.close().catch(() => undefined);
    for (const p of proxies) await p.close();
    await server?.close();
    await bundle?.remove();
    await cluster?.stop();
  });

  it("keeps an edit made offline through a reload, sends it on reconnect, and stores nothing readable", async (ctx) => {
    requireChromium(ctx);
    const c = cluster!;
    const east = await startFaultProxy(portOf(c.urls.east!));
    const west = await startFaultProxy(portOf(c.urls.west!));
    proxies.push(east, west);
    const tag = randomBytes(8).toString("hex");
    const online = `online-${tag}`;
    const offline = `offline-${tag}`;
    const page: TestPage = await session!.open(server!.url);
    await page.call("open", "app", [east.url, west.url], c.token, "web/");
    await page.call("synced", true);
    await page.call("create", "web/notes", "yjs");
    await page.call("patch", "web/notes", [{ op: "set", path: ["m", "online"], value: online }]);
    await page.call("create", "web/tasks", "automerge");
    await page.call("patch", "web/tasks", [{ op: "push", path: ["items"], value: online }]);
    await page.call("drained");
    await regionValueUntil(c.urls.east!, c.token, "web/tasks", (v) => JSON.stringify(v).includes(online));

    // The network goes away: every socket to either region is reset, and new ones are refused.
    east.set({ mode: "sever" });
    west.set({ mode: "sever" });
    await page.call("offline");
    await page.call("patch", "web/notes", [{ op: "set", path: ["m", "offline"], value: offline }]);
    await page.call("patch", "web/tasks", [{ op: "push", path: ["items"], value: offline }]);
    expect((await page.call<Status>("status")).pendingWrites).toBeGreaterThan(0);

    await page.call("close");
    await page.reload(); // still offline
    const reopened = await page.call<Status>("open", "app", [east.url, west.url], c.token, "web/");
    expect(reopened.pendingWrites).toBeGreaterThan(0);
    expect(await page.call("read", "web/notes")).toEqual({ m: { online, offline } });
    expect(await page.call("read", "web/tasks")).toEqual({ items: [online, offline] });

    east.set({ mode: "pass" });
    west.set({ mode: "pass" });
    // It may first reach west (it goes round the regions while they are unreachable), then returns home.
    await page.call("synced", true);
    const drained = await page.call<Status>("drained");
    expect(drained).toMatchObject({ state: "synced", pendingWrites: 0 });
    for (const url of [c.urls.east!, c.urls.west!]) {
      await regionValueUntil(url, c.token, "web/notes", (v) => isDeepStrictEqual(v, { m: { online, offline } }));
      await regionValueUntil(url, c.token, "web/tasks", (v) => isDeepStrictEqual(v, { items: [online, offline] }));
    }

    // Nothing readable at rest: the page's whole database, dumped from IndexedDB, holds neither the ids nor the contents.
    const dump = (await page.call<string[]>("dump", "app")).join("\n");
    expect(dump.length).toBeGreaterThan(1000);
    for (const secret of [online, offline, tag, "web/notes", "web/tasks"]) {
      expect(dump.includes(Buffer.from(secret).toString("hex")), secret).toBe(false);
    }
    console.log(`browser sync events: ${(await page.call<string[]>("events")).join(" → ")}`);
    await page.call("close");
    await page.page.close();
  }, 600_000);

  it("converges two pages homed on two regions on both kinds, and fails one over when its home region dies", async (ctx) => {
    requireChromium(ctx);
    const c = cluster!;
    const a = await session!.open(server!.url);
    const b = await session!.open(server!.url);
    await a.call("open", "page-a", [c.urls.east!, c.urls.west!], c.token, "pair/");
    await b.call("open", "page-b", [c.urls.west!, c.urls.east!], c.token, "pair/");
    await Promise.all([a.call("synced", true), b.call("synced", true)]);
    await a.call("create", "pair/text", "yjs");
    await b.call("create", "pair/list", "automerge");
    await Promise.all([
      a.call("patch", "pair/text", [{ op: "set", path: ["m", "a"], value: 1 }]),
      b.call("patch", "pair/text", [{ op: "set", path: ["m", "b"], value: 2 }]).catch(() => undefined), // b may not hold it yet
      a.call("patch", "pair/list", [{ op: "push", path: ["items"], value: "a" }]).catch(() => undefined),
      b.call("patch", "pair/list", [{ op: "push", path: ["items"], value: "b" }]),
    ]);
    // Each page writes into both documents once it holds them.
    const holds = (p: TestPage, id: string) => poll(`${id} in a page`, async () => ((await p.call("read", id)) !== null ? true : undefined));
    await holds(b, "pair/text");
    await holds(a, "pair/list");
    await b.call("patch", "pair/text", [{ op: "set", path: ["m", "b2"], value: 3 }]);
    await a.call("patch", "pair/list", [{ op: "push", path: ["items"], value: "a2" }]);
    const settled = async () => {
      await Promise.all([a.call("drained"), b.call("drained")]);
      return poll("the pages to converge", async () => {
        const [at, bt, al, bl] = await Promise.all([a.call("read", "pair/text"), b.call("read", "pair/text"), a.call("read", "pair/list"), b.call("read", "pair/list")]);
        return isDeepStrictEqual(at, bt) && isDeepStrictEqual(al, bl) ? { text: at, list: al } : undefined;
      });
    };
    const both = await settled();
    expect((both.text as { m: Record<string, number> }).m).toMatchObject({ a: 1, b2: 3 });
    expect(((both.list as { items: string[] }).items).filter((x) => x === "a2" || x === "b").sort()).toEqual(["a2", "b"]);

    // Page a's home dies (a real process, SIGKILL): a fails over to west and keeps syncing.
    await c.kill("east");
    const away = await a.call<Status>("synced", false);
    expect(away.region).toBe(c.urls.west);
    await a.call("patch", "pair/text", [{ op: "set", path: ["m", "afterFailover"], value: true }]);
    await a.call("drained");
    const ackToken = await a.call<string>("token", "pair/text");
    const read = await fetch(`${c.urls.west}/v1/docs/pair%2Ftext?after=${ackToken}`, { headers: { authorization: `Bearer ${c.token}` } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { value: { m: Record<string, unknown> } }).value.m["afterFailover"]).toBe(true);
    await poll("page b to see a's write", async () => (((await b.call("read", "pair/text")) as { m: Record<string, unknown> }).m["afterFailover"] === true ? true : undefined));
    expect(await a.call<string[]>("events")).toContain("failed-over");
    await a.call("close");
    await b.call("close");
  }, 600_000);
});
