import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/replicas.ts";

const bin = fileURLToPath(new URL("../../src/concord.mjs", import.meta.url));
const sim = (args: string[]) => {
  const result = spawnSync(process.execPath, [bin, "sim", ...args], { encoding: "utf8" });
  return { code: result.status, out: result.stdout, err: result.stderr };
};
const small = ["--docs", "2", "--ops", "40", "--chaos-ms", "1500"];

describe("concord sim", () => {
  it("explains every option in --help", () => {
    const { code, out } = sim(["--help"]);
    expect(code).toBe(0);
    for (const flag of ["--seed", "--seeds", "--nemesis", "--inject-bug", "--scenario", "--json", "--report"]) expect(out).toContain(flag);
  });

  it("prints one JSON object with the run's figures and writes a self-contained HTML report", async () => {
    const dir = await tempDir();
    try {
      const report = join(dir.path, "report.html");
      const { code, out } = sim(["--seed", "9", ...small, "--json", "--report", report]);
      expect(code).toBe(0);
      const result = JSON.parse(out);
      for (const key of ["seed", "converged", "lostWrites", "convergenceMs", "traceHash", "events", "messages", "bytes", "violations"]) {
        expect(result).toHaveProperty(key);
      }
      expect(result.converged).toBe(true);
      const html = await readFile(report, "utf8");
      expect(html).toContain("<svg");
      expect(html).not.toMatch(/<script|<link|src="http/);
    } finally {
      await dir.remove();
    }
  });

  it("exits non-zero and prints the replay command when a bug is injected", () => {
    const { code, out } = sim(["--seeds", "1..2", ...small, "--nemesis", "partition", "--inject-bug", "drop-deltas"]);
    expect(code).toBe(1);
    expect(out).toContain("npx concord sim --seed 1 ");
    expect(out).toContain("--inject-bug drop-deltas");
  });

  it("prints the catch rate of an injected bug over a sweep and exits by --expect-caught", () => {
    const args = ["--seeds", "1..2", ...small, "--bound-ms", "5000", "--nemesis", "partition", "--inject-bug", "drop-deltas"];
    const met = sim([...args, "--expect-caught", "100"]);
    expect(met.out).toContain("caught 2/2 (100.0 %) with --inject-bug drop-deltas");
    expect(met.code).toBe(0);
    const clean = sim(["--seeds", "1..2", ...small, "--nemesis", "none", "--inject-bug", "ack-before-durable", "--expect-caught", "100"]);
    expect(clean.out).toContain("caught 0/2 (0.0 %) with --inject-bug ack-before-durable; missed seeds 1,2; expected at least 100 %: TOO LOW");
    expect(clean.code).toBe(1);
  });

  it("lists every violation of a failing seed, not only the first", () => {
    const { out, err } = sim(["--seeds", "1", ...small, "--bound-ms", "5000", "--nemesis", "partition", "--inject-bug", "drop-deltas"]);
    expect(out).toMatch(/1 +\d+ +- +\d+ violation\(s\): divergence ×\d+, liveness, lost-write ×\d+/);
    expect(err.match(/^  lost-write: /gm)?.length ?? 0).toBeGreaterThan(1);
  });

  it("rejects an unknown nemesis with exit code 2", () => {
    const { code, err } = sim(["--nemesis", "meteor"]);
    expect(code).toBe(2);
    expect(err).toContain('unknown nemesis "meteor"');
  });
});
