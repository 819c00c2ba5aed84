import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

describe("browser bundle", () => {
  it("bundles src/index.ts for the browser with no Node built-in anywhere in the core", async () => {
    const offenders: string[] = [];
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
      // Third-party packages are checked for browser builds by their own authors; this test guards our code.
      packages: "external",
      plugins: [
        {
          name: "no-node-builtins",
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (builtins.has(args.path)) offenders.push(`${args.path} imported by ${args.importer}`);
              return undefined;
            });
          },
        },
      ],
    });
    expect(offenders).toEqual([]);
    const external = new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path)));
    expect([...external].filter((p) => p === "lmdb" || builtins.has(p))).toEqual([]);
  });
});
