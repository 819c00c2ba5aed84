/**
 * Tests in a real browser: Debian's Chromium (/usr/bin/chromium) driven by
 * playwright-core, never a browser download. A test bundles a page script with
 * esbuild (bundlePage), serves it from 127.0.0.1 on port 0 (servePage), opens
 * it in a Chromium with a fresh profile directory (launchChromium), and calls
 * the functions the page exposed (test/browser/page-api.ts) with page.call().
 * Reloading a page, closing and relaunching Chromium on the same profile,
 * cutting the network (session.context.setOffline) and CDP commands are all
 * at hand, for the sync client's offline and failover scenarios as much as
 * for the store.
 *
 * Without Chromium a test skips, saying why; with CONCORD_CI=1 (.ci/run sets
 * it) a missing browser fails the test instead.
 */
import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type BuildOptions } from "esbuild";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { PageCallOutcome } from "../browser/page-api.ts";

export const chromiumPath = "/usr/bin/chromium";
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The flags every test browser runs with: headless, no sandbox (containers), and nothing that phones home. */
export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A generous deadline for a page to start or answer, not a budget: a loaded machine compiles megabytes of WebAssembly slowly. */
export const pageDeadlineMs = 300_000;

/** Why Chromium cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(chromiumPath) ? undefined : `${chromiumPath} is missing (apt-get install chromium; .ci/run installs it)`;
}

/** Skips the test when Chromium is missing, saying why; under CONCORD_CI=1 throws instead, since CI must run it. */
export function requireChromium(ctx: { skip: (note?: string) => void }): void {
  const missing = chromiumMissing();
  if (missing === undefined) return;
  if (process.env["CONCORD_CI"] === "1") throw new Error(`CI must run the browser tests: ${missing}`);
  console.warn(`browser test skipped: ${missing}`);
  ctx.skip(missing);
}

export interface PageBundle {
  /** Directory holding page.js (and automerge.wasm for the slim build). */
  dir: string;
  /** Bytes of JavaScript esbuild wrote (minified when asked). */
  scriptBytes: number;
  remove(): Promise<void>;
}

export interface BundleOptions {
  /**
   * How Automerge's WebAssembly reaches the page. "slim" (default): the slim
   * build, with automerge.wasm copied beside page.js, which the page loads with
   * initializeWasm(new URL("automerge.wasm", location.href)) before opening a
   * replica. "inlined": the wasm inside page.js (esbuild's "webpack" condition).
   * The README's "Bundling for the browser" documents both.
   */
  automerge?: "slim" | "inlined";
  minify?: boolean;
  /** Extra esbuild aliases, e.g. { vitest: "./test/browser/page-vitest.ts" }. */
  alias?: Record<string, string>;
  /** esbuild `define`, e.g. to pass a seed: { "globalThis.CONCORD_SEED": "\"42\"" }. */
  define?: Record<string, string>;
}

/** Bundles `entry` (a path from the repository root) for the browser into a fresh temporary directory. */
export async function bundlePage(entry: string, options: BundleOptions = {}): Promise<PageBundle> {
  const dir = await mkdtemp(join(tmpdir(), "concord-page-"));
  const automerge = options.automerge ?? "slim";
  const build_: BuildOptions = {
    entryPoints: { page: resolve(repoRoot, entry) },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outdir: dir,
    absWorkingDir: repoRoot,
    minify: options.minify ?? false,
    metafile: true,
    logLevel: "silent",
    alias: { ...(automerge === "slim" ? { "@automerge/automerge": "@automerge/automerge/slim" } : {}), ...options.alias },
    ...(automerge === "inlined" ? { conditions: ["webpack"] } : {}),
    ...(options.define ? { define: options.define } : {}),
  };
  try {
    const result = await build(build_);
    if (automerge === "slim") await cp(join(repoRoot, "node_modules/@automerge/automerge/dist/automerge.wasm"), join(dir, "automerge.wasm"));
    const scriptBytes = Object.entries(result.metafile?.outputs ?? {})
      .filter(([file]) => file.endsWith(".js"))
      .reduce((sum, [, output]) => sum + output.bytes, 0);
    return { dir, scriptBytes, remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

const contentTypes: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".map": "application/json" };

export interface PageServer {
  /** The page's URL: an index.html that loads page.js as a module. */
  url: string;
  origin: string;
  close(): Promise<void>;
}

/** Serves a bundle directory on 127.0.0.1, port 0 (a secure context, as WebCrypto needs). */
export async function servePage(dir: string): Promise<PageServer> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (path === "/" || path === "/index.html") {
      res.setHeader("content-type", contentTypes[".html"]!);
      res.end(`<!doctype html><meta charset="utf-8"><title>concord test page</title><script type="module" src="/page.js"></script>`);
      return;
    }
    const file = resolve(dir, `.${path}`);
    if (relative(dir, file).split(sep)[0] === "..") {
      res.statusCode = 404;
      res.end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.setHeader("content-type", contentTypes[extname(file)] ?? "application/octet-stream");
        res.end(body);
      },
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/index.html`,
    origin,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** A page whose bundle called exposeToTest (test/browser/page-api.ts). */
export interface TestPage {
  page: Page;
  /** Console lines and page errors, for failure messages. */
  logs: string[];
  /** Calls a function the page exposed; rejects with an Error carrying the page's `code` and message. */
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T>;
  /** Reloads the page and waits until it exposed its functions again. */
  reload(): Promise<void>;
}

export interface ChromiumSession {
  context: BrowserContext;
  /** The profile directory: IndexedDB lives here, and survives relaunch(). */
  userDataDir: string;
  /** Opens `url` in a new page and waits until it exposed its functions. */
  open(url: string): Promise<TestPage>;
  /** Closes Chromium and starts it again on the same profile (a browser restart). */
  relaunch(): Promise<void>;
  /** Kills Chromium's browser process with SIGKILL (no shutdown, no flush), then starts it again on the same profile. */
  killAndRelaunch(): Promise<void>;
  /** Closes Chromium and removes the profile. */
  close(): Promise<void>;
}

/** Starts Chromium on a fresh profile directory (or on `userDataDir`, kept on close). */
export async function launchChromium(options: { userDataDir?: string } = {}): Promise<ChromiumSession> {
  const userDataDir = options.userDataDir ?? (await mkdtemp(join(tmpdir(), "concord-chromium-")));
  const start = () =>
    chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath, headless: true, args: chromiumArgs, timeout: pageDeadlineMs });
  let context = await start();
  const session: ChromiumSession = {
    get context() {
      return context;
    },
    userDataDir,
    open: (url) => openTestPage(context, url),
    async relaunch() {
      await context.close();
      context = await start();
    },
    async killAndRelaunch() {
      const closed = new Promise<void>((done) => context.once("close", () => done()));
      process.kill(await browserPid(userDataDir), "SIGKILL");
      await closed;
      context = await start();
    },
    async close() {
      await context.close();
      if (options.userDataDir === undefined) await rm(userDataDir, { recursive: true, force: true });
    },
  };
  return session;
}

/** The pid of the Chromium browser process (not a renderer or helper) running on `userDataDir`: the one we launched. */
async function browserPid(userDataDir: string): Promise<number> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const args: string[] = await readFile(`/proc/${entry}/cmdline`, "utf8").then((t) => t.split("\0"), () => []);
    if (args.includes(`--user-data-dir=${userDataDir}`) && !args.some((a) => a.startsWith("--type="))) found.push(Number(entry));
  }
  if (found.length !== 1) throw new Error(`expected one Chromium browser process on ${userDataDir}, found ${found.length}`);
  return found[0]!;
}

async function openTestPage(context: BrowserContext, url: string): Promise<TestPage> {
  const page = await context.newPage();
  const logs: string[] = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.stack ?? e.message}`));
  const ready = async (): Promise<void> => {
    await page.waitForFunction(() => "concordPage" in globalThis || "concordPageError" in globalThis, null, { timeout: pageDeadlineMs });
    const failed = await page.evaluate(() => (globalThis as { concordPageError?: string }).concordPageError);
    if (failed !== undefined) throw new Error(`the page failed: ${failed}\n${logs.join("\n")}`);
  };
  await page.goto(url);
  await ready();
  return {
    page,
    logs,
    async call<T>(name: string, ...args: unknown[]): Promise<T> {
      const outcome = await page.evaluate(
        ([n, a]) => (globalThis as unknown as { concordPage: { call(n: string, a: unknown[]): Promise<PageCallOutcome> } }).concordPage.call(n, a),
        [name, args] as const,
      );
      if ("ok" in outcome) return outcome.ok as T;
      const error = Object.assign(new Error(`${outcome.error.name}: ${outcome.error.message}`), { code: outcome.error.code, pageStack: outcome.error.stack });
      throw error;
    },
    async reload() {
      await page.reload();
      await ready();
    },
  };
}
