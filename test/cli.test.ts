import { spawnSync } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { commandTable } from "../src/cli.ts";
import { tempDir } from "./helpers/replicas.ts";

const bin = fileURLToPath(new URL("../src/concord.mjs", import.meta.url));
const concord = (args: string[], env: Record<string, string> = {}) => {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: result.status, out: result.stdout, err: result.stderr };
};

describe("concord command", () => {
  it("prints help listing its commands", () => {
    const { code, out } = concord(["--help"]);
    expect(code).toBe(0);
    expect(out).toMatch(/Commands:[\s\S]*demo[\s\S]*keys[\s\S]*backup[\s\S]*restore/);
  });

  it("gives every command a --help that exits 0, and usage with exit 2 when called bare", () => {
    for (const command of ["keys", "backup", "restore"]) {
      const help = concord([command, "--help"]);
      expect(help.code, command).toBe(0);
      expect(help.out, command).toMatch(/^Usage:/);
      expect(concord([command]).code, command).toBe(2);
    }
    for (const command of ["serve", "cluster", "sim", "demo"]) expect(concord([command, "--help"]).code, command).toBe(0);
  });

  it("refuses a bad --gossip-compression value before starting anything", () => {
    const { code, err } = concord(["serve", "--topology", "regions/local.json", "--region", "us-east", "--gossip-compression", "maybe"]);
    expect(code).toBe(2);
    expect(err).toContain("--gossip-compression must be on or off");
    expect(concord(["serve", "--help"]).out).toContain("--gossip-compression on|off");
  });

  it("rejects an unknown command with usage and exit code 2", () => {
    const { code, err } = concord(["frobnicate"]);
    expect(code).toBe(2);
    expect(err).toContain('unknown command "frobnicate"');
  });

  it("runs the demo, creates a 0600 key, rotates it, and refuses the old key afterwards", async () => {
    const dir = await tempDir();
    try {
      const init = concord(["keys", "init", "--data", dir.path]);
      expect(init.code).toBe(0);
      const keyFile = join(dir.path, "keys", "master.key");
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      expect(concord(["keys", "init", "--data", dir.path]).err).toContain("[exists]");

      const demo = concord(["demo", "--data", dir.path]);
      expect(demo.code).toBe(0);
      expect(demo.out).toContain("demo/tasks (automerge)");
      expect(demo.out).toContain("no file under");

      const oldKey = (await readFile(keyFile, "utf8")).trim();
      const rotate = concord(["keys", "rotate", "--data", dir.path]);
      expect(rotate.code).toBe(0);
      expect(rotate.err).toContain("re-keyed 2 documents");
      expect(concord(["demo", "--data", dir.path]).code).toBe(0);
      const stale = concord(["demo", "--data", dir.path], { CONCORD_MASTER_KEY: oldKey });
      expect(stale.code).toBe(1);
      expect(stale.err).toContain("[wrong_key]");
    } finally {
      await dir.remove();
    }
  });

  it("names a missing flag clearly", () => {
    const { code, err } = concord(["keys", "rotate"]);
    expect(code).toBe(2);
    expect(err).toContain("--data is required");
    expect(concord(["backup", "--out", "x.ccbackup"]).err).toContain("--region (or --data) is required");
    expect(concord(["restore", "--in", "missing.ccbackup", "--data", "d"]).err).toContain("cannot read the archive missing.ccbackup");
  });
});

describe("concord command loading", () => {
  it("lists each command under the name and summary its own module declares", async () => {
    for (const entry of commandTable) {
      const command = await entry.load();
      expect({ name: command.name, summary: command.summary }).toEqual({ name: entry.name, summary: entry.summary });
    }
  });

  it("loads neither the engines, LMDB, libsodium, the server nor the simulator before a command runs", async () => {
    // The module graph node runs for `concord --help`: the bin and its static imports, never the commands'
    // dynamic import()s. esbuild resolves it exactly as it will run (packages stay external imports).
    const result = await build({
      entryPoints: [fileURLToPath(new URL("../src/concord.ts", import.meta.url))],
      bundle: true, splitting: true, format: "esm", platform: "node", packages: "external",
      outdir: "out", write: false, metafile: true, logLevel: "silent",
    });
    const outputs = result.metafile.outputs;
    const entry = Object.keys(outputs).find((o) => outputs[o]!.entryPoint?.endsWith("src/concord.ts"))!;
    const loaded = new Set<string>();
    const visit = (output: string) => {
      if (loaded.has(output)) return;
      loaded.add(output);
      for (const i of outputs[output]?.imports ?? []) if (i.kind === "import-statement") visit(i.path);
    };
    visit(entry);
    const modules = [...loaded].flatMap((o) => (outputs[o] ? Object.keys(outputs[o]!.inputs) : [o]));
    expect(modules.filter((m) => /yjs|automerge|lmdb|sodium|hono|pino|src\/(doc|storage|crypto|replica|server|gossip)\/|^sim\//.test(m))).toEqual([]);
    // ...and the lazy table does reach every command.
    expect(Object.values(outputs).some((o) => Object.keys(o.inputs).includes("src/cli/serve.ts"))).toBe(true);
  });
});
