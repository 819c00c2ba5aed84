#!/usr/bin/env node
// `npm run build` (also run by `prepare`, so `npm ci` and `npm pack` build): compiles src/ and sim/ to
// JavaScript and declarations in dist/ with tsc (.ci/tsconfig.build.json), from scratch so no file of a
// deleted source survives; keeps only the declarations the package entries reach (the CLI's, the
// server's and the simulator's are of no use to a consumer); and copies the one data file the built code
// reads (the simulator's default topology, which sim/topology-file.ts finds next to sim/).
//
// npm also runs `prepare` when `npx concord` links this checkout into its cache, so a build whose inputs
// (every file it reads, by content) are those of dist/ as it stands is skipped: dist/.build-inputs holds
// their hash. `npm run build -- --force` rebuilds regardless.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const stamp = join(dist, ".build-inputs");
/** The declaration files of package.json's exports. */
const entries = ["src/node.d.ts", "src/index.d.ts", "src/internal.d.ts", "src/client/index.d.ts"].map((f) => join(dist, f));
const require = createRequire(import.meta.url);

/** A hash of everything the build reads: sources, configs, this script, the data file, the compiler's version. */
function inputsHash() {
  const files = ["src", "sim"].flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".ts"))
      .map((e) => join(e.parentPath ?? e.path, e.name)));
  files.push(...["tsconfig.json", ".ci/tsconfig.build.json", ".ci/build.mjs", "regions/five.json"].map((f) => join(root, f)));
  const hash = createHash("sha256").update(require("typescript/package.json").version);
  for (const file of files.sort()) hash.update(`\0${relative(root, file)}\0`).update(readFileSync(file));
  return hash.digest("hex");
}

const inputs = inputsHash();
if (!process.argv.includes("--force") && existsSync(stamp) && readFileSync(stamp, "utf8") === inputs) {
  console.log("dist/: up to date with its sources (npm run build -- --force rebuilds)");
  process.exit(0);
}

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(root, ".ci/tsconfig.build.json")], { stdio: "inherit" });

// Every declaration file reachable from the entries through relative imports (static or import("...")).
const reached = new Set();
const pending = [...entries];
while (pending.length > 0) {
  const file = pending.pop();
  if (reached.has(file)) continue;
  reached.add(file);
  for (const [, spec] of readFileSync(file, "utf8").matchAll(/(?:from |import\()\s*"(\.{1,2}\/[^"]+)"/g)) {
    pending.push(resolve(dirname(file), spec.replace(/\.(ts|js)$/, ".d.ts")));
  }
}
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  const file = join(entry.parentPath ?? entry.path, entry.name);
  if (entry.isFile() && file.endsWith(".d.ts") && !reached.has(file)) rmSync(file);
}
cpSync(join(root, "regions/five.json"), join(dist, "regions/five.json"));
chmodSync(join(dist, "src/concord.js"), 0o755); // the bin: runnable directly, as npm's links to it expect
writeFileSync(stamp, inputs);
console.log(`dist/: built; ${reached.size} declaration files reached from the package entries`);
