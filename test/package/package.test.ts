/**
 * The package as a consumer gets it (issue 12): `npm pack` of this tree, then a
 * scratch app that `npm install`s the tarball with no overrides. Plain node runs
 * it, tsc (strict, NodeNext) compiles against its declarations alone, and
 * esbuild bundles `concord/browser` both ways the README shows, each run in
 * headless Chromium. Without the npm cache or registry, or without Chromium,
 * the tests skip and say why; in CI they fail instead.
 */
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import type { TestContext } from "vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, runInChromium } from "./browser-page.ts";
import { addFixture, inCi, installScratchApp, npm, packConcord, repoRoot, run, type ScratchApp, type Tarball } from "./scratch-app.ts";
import { tempDir } from "../helpers/replicas.ts";

let work: Awaited<ReturnType<typeof tempDir>>;
let tarball: Tarball;
let app: ScratchApp;

beforeAll(async () => {
  work = await tempDir("concord-pack-");
  tarball = await packConcord(work.path);
  const typesNode = JSON.parse(await readFile(join(repoRoot, "node_modules/@types/node/package.json"), "utf8")) as { version: string };
  // The consumer's own dependency for its types, at the version Concord's lock holds (so it is in the npm cache).
  app = await installScratchApp(tarball.path, { "@types/node": typesNode.version });
  console.log(`concord tarball: ${tarball.files.length} files, ${tarball.bytes} bytes packed, ${tarball.unpackedBytes} unpacked`);
});

afterAll(async () => {
  await app?.remove();
  await work?.remove();
});

/** Skips (or, in CI, fails) when npm could not install the tarball here. */
function needsInstall(ctx: TestContext): void {
  if (app.unavailable === undefined) return;
  if (inCi) throw new Error(`CI must install the tarball: ${app.unavailable}`);
  ctx.skip(app.unavailable);
}

describe("the npm tarball", () => {
  it("holds built JavaScript, declarations, README, LICENSE and package.json, and nothing of test/, .ci/ or the TypeScript sources", () => {
    const top = new Set(tarball.files.map((f) => f.split("/")[0]));
    expect([...top].sort()).toEqual(["LICENSE", "README.md", "dist", "package.json"]);
    expect(tarball.files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    for (const entry of ["dist/src/node.js", "dist/src/node.d.ts", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/internal.js", "dist/src/client/index.js", "dist/src/client/index.d.ts", "dist/src/concord.js"]) {
      expect(tarball.files).toContain(entry);
    }
    // The CLI's `concord sim` runs the simulator, and its default topology, from the package.
    expect(tarball.files).toContain("dist/sim/run.js");
    expect(tarball.files).toContain("dist/regions/five.json");
  });

  it("installs without Concord's overrides, and the app's own lock reinstalls from scratch (npm ci)", async (ctx) => {
    needsInstall(ctx);
    const lock = await readFile(join(app.dir, "package-lock.json"), "utf8");
    // The platform packages of lmdb's msgpackr-extract, which a lock missing some of made `npm ci` refuse.
    const platforms = [...lock.matchAll(/"node_modules\/@msgpackr-extract\/msgpackr-extract-([a-z0-9-]+)"/g)].map((m) => m[1]);
    expect(platforms.sort()).toEqual(["darwin-arm64", "darwin-x64", "linux-arm", "linux-arm64", "linux-x64", "win32-x64"]);
    const ci = await npm(app, ["ci", "--prefer-offline"]);
    expect(ci.code, `${ci.stdout}\n${ci.stderr}`).toBe(0);
  });

  it("runs on plain node: create, change, patch, read and subscribe on a data directory, both engines", async (ctx) => {
    needsInstall(ctx);
    const script = await addFixture(app, "node-app.mjs");
    const result = await run(process.execPath, [script], { cwd: app.dir });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({
      notes: { body: "hi" }, tasks: { items: ["ship"], meta: { done: 1 } }, exists: "exists", seen: 2, lastVersionSeen: true,
    });
  });

  it("runs the built concord command from node_modules/.bin: --help, keys init and the demo", async (ctx) => {
    needsInstall(ctx);
    const bin = join(app.dir, "node_modules/.bin/concord");
    const help = await run(bin, ["--help"], { cwd: app.dir });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/Commands:[\s\S]*serve[\s\S]*sim/);
    const data = join(app.dir, "data");
    expect((await run(bin, ["keys", "init", "--data", data], { cwd: app.dir })).code).toBe(0);
    const demo = await run(bin, ["demo", "--data", data], { cwd: app.dir });
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toContain("demo/tasks (automerge)");
  });

  it("type-checks a strict NodeNext consumer against the declarations alone (skipLibCheck false, no .ts extensions)", async (ctx) => {
    needsInstall(ctx);
    await addFixture(app, "consumer.ts");
    const tsconfig = {
      compilerOptions: {
        // DOM only because yjs's own declarations (Y.XmlFragment) name DOM types; Concord's need none.
        strict: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2022", "DOM"],
        types: ["node"], skipLibCheck: false, noEmit: true,
      },
      files: ["consumer.ts"],
    };
    await writeFile(join(app.dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
    const checked = await run(process.execPath, [tsc, "-p", "tsconfig.json", "--listFiles"], { cwd: app.dir });
    expect(checked.code, checked.stdout.split("\n").filter((l) => l.includes("error TS")).join("\n")).toBe(0);
    const concordFiles = checked.stdout.split("\n").filter((f) => f.includes("/node_modules/concord/"));
    expect(concordFiles.length).toBeGreaterThan(0);
    expect(concordFiles.filter((f) => !f.endsWith(".d.ts"))).toEqual([]);
  });
});

describe("concord/browser in Chromium", () => {
  /** Bundles the browser fixture from the app with esbuild as the README says, plus `extra` options. */
  async function bundle(outdir: string, extra: Parameters<typeof build>[0]) {
    const entry = await addFixture(app, "browser-app.ts");
    const result = await build({
      entryPoints: [entry], bundle: true, format: "esm", platform: "browser", minify: true,
      outdir, absWorkingDir: app.dir, metafile: true, logLevel: "silent", ...extra,
    });
    return Object.values(result.metafile?.outputs ?? {}).reduce((sum, o) => sum + o.bytes, 0);
  }

  function needsChromium(ctx: TestContext): void {
    const missing = chromiumMissing();
    if (missing === undefined) return;
    if (inCi) throw new Error(`CI must run the browser tests: ${missing}`);
    ctx.skip(missing);
  }

  const expected = { notes: { body: "hi" }, tasks: { items: ["ship"], done: 2 }, changes: ["local", "local"] };

  it("runs a one-file bundle with Automerge's WebAssembly inlined (--conditions=webpack)", async (ctx) => {
    needsInstall(ctx);
    needsChromium(ctx);
    const out = join(app.dir, "inlined");
    const bytes = await bundle(out, { conditions: ["webpack"] });
    console.log(`concord/browser bundle, wasm inlined: ${bytes} bytes (minified)`);
    expect(await runInChromium(out, "browser-app.js")).toEqual({ wasmInlined: true, ...expected });
  });

  it("runs a slim bundle that loads automerge.wasm beside it (--alias:@automerge/automerge=@automerge/automerge/slim)", async (ctx) => {
    needsInstall(ctx);
    needsChromium(ctx);
    const out = join(app.dir, "slim");
    const bytes = await bundle(out, { alias: { "@automerge/automerge": "@automerge/automerge/slim" } });
    await cp(join(app.dir, "node_modules/@automerge/automerge/dist/automerge.wasm"), join(out, "automerge.wasm"));
    console.log(`concord/browser bundle, slim: ${bytes} bytes (minified) + automerge.wasm`);
    expect((await readdir(out)).sort()).toEqual(["automerge.wasm", "browser-app.js"]);
    expect(await runInChromium(out, "browser-app.js")).toEqual({ wasmInlined: false, ...expected });
  });
});
