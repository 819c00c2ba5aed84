import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Where the outside world may be touched: the runtime, the adapters, the server, the CLI. */
const allowed = [
  /^src\/runtime\//,
  /^src\/storage\/(lmdb|memory|indexeddb|postgres)-store\.ts$/,
  /^src\/storage\/lmdb-[a-z-]+\.ts$/, // the LMDB adapter's file check and clean-close record (Node only)
  /^src\/server\//,
  /^src\/client\//,
  /^src\/cli(\.ts|\/)/,
  /^src\/node\.ts$/,
  /^src\/concord\.mjs$/,
];
const ambient = /\b(Date\.now|new Date\(\)|Math\.random|setTimeout|setInterval|setImmediate|performance\.now|crypto\.randomUUID|process\.env|fetch\()/;

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

describe("tidy", () => {
  it("keeps time, randomness, timers and the environment out of the deterministic core", async () => {
    const offenders: string[] = [];
    for (const file of await sourceFiles("src")) {
      if (allowed.some((pattern) => pattern.test(file))) continue;
      const lines = (await readFile(join(root, file), "utf8")).split("\n");
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, "");
        if (ambient.test(code) && !/^\s*\*/.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it("uses no default exports in our own code", async () => {
    const offenders: string[] = [];
    for (const file of [...(await sourceFiles("src")), ...(await sourceFiles("sim"))]) {
      const text = await readFile(join(root, file), "utf8");
      if (/^export default /m.test(text)) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});
