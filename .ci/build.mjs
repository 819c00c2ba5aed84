#!/usr/bin/env node
// `npm run build` (also run by `prepare`, so `npm ci` and `npm pack` build): compiles src/ and sim/ to
// JavaScript and declarations in dist/ with tsc (.ci/tsconfig.build.json), from scratch so no file of a
// deleted source survives; keeps only the declarations the package entries reach (the CLI's, the
// server's and the simulator's are of no use to a consumer); and copies the one data file the built code
// reads (the simulator's default topology, which sim/topology-file.ts finds next to sim/).
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
/** The declaration files of package.json's exports. */
const entries = ["src/node.d.ts", "src/index.d.ts", "src/internal.d.ts"].map((f) => join(dist, f));

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(root, ".ci/tsconfig.build.json")], { stdio: "inherit" });

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
  const file = join(entry.parentPath, entry.name);
  if (entry.isFile() && file.endsWith(".d.ts") && !reached.has(file)) rmSync(file);
}
cpSync(join(root, "regions/five.json"), join(dist, "regions/five.json"));
console.log(`dist/: built; ${reached.size} declaration files reached from the package entries`);
