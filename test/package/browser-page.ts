/**
 * Runs a browser bundle in headless Chromium (Debian's /usr/bin/chromium
 * through playwright-core; no browser download): serves a directory on
 * 127.0.0.1 (port 0) with the right content types, opens a page that loads
 * SCRIPT as a module, and waits for the bundle to leave `concordResult` or
 * `concordError` on the page (test/package/fixtures/browser-app.ts does).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

export const chromiumPath = "/usr/bin/chromium";

/** Why Chromium cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(chromiumPath) ? undefined : `${chromiumPath} is missing (Debian: apt-get install chromium; .ci/run installs it)`;
}

const contentTypes: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

/** Loads `script` (a file in `dir`) in a fresh page and returns what it reported. Throws the page's error. */
export async function runInChromium(dir: string, script: string): Promise<unknown> {
  const server = createServer((req, res) => {
    const name = normalize(decodeURIComponent((req.url ?? "/").split("?")[0]!)).replace(/^\/+/, "");
    if (name === "index.html") {
      res.setHeader("content-type", contentTypes[".html"]!);
      res.end(`<!doctype html><meta charset="utf-8"><title>concord</title><script type="module" src="${script}"></script>`);
      return;
    }
    readFile(join(dir, name)).then(
      (body) => {
        res.setHeader("content-type", contentTypes[extname(name)] ?? "application/octet-stream");
        res.end(body);
      },
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--headless"] });
  try {
    const page = await browser.newPage();
    const logged: string[] = [];
    page.on("console", (m) => logged.push(m.text()));
    page.on("pageerror", (e) => logged.push(String(e)));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`);
    // A generous deadline, not a budget: on a loaded machine compiling 3.6 MB of WebAssembly takes a while.
    await page.waitForFunction(() => "concordResult" in globalThis || "concordError" in globalThis, null, { timeout: 300_000 });
    const outcome = await page.evaluate(() => {
      const g = globalThis as { concordResult?: unknown; concordError?: string };
      return { result: g.concordResult, error: g.concordError };
    });
    if (outcome.error !== undefined) throw new Error(`the page failed: ${outcome.error}\n${logged.join("\n")}`);
    return outcome.result;
  } finally {
    await browser.close();
    await new Promise((resolve) => server.close(resolve));
  }
}
