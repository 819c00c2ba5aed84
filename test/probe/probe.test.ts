/**
 * Keeps the probes from rotting: the runner runs one cheap probe (finding 6,
 * a missing tokens.json) against a real region and prints its table row.
 * The full table is `npm run probe` (not part of npm test: it is slow).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const runner = fileURLToPath(new URL("./run.ts", import.meta.url));

describe("probe runner (issue 10)", () => {
  it("runs the finding-6 probe and prints its row: refused to start without tokens.json, nothing crashed", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", runner, "6"], { encoding: "utf8" });
    expect(run.stderr).not.toMatch(/Error/);
    // The exit code also counts requests slower than 1 s, which a loaded machine may produce: judged by the row instead.
    const row = run.stdout.split("\n").find((line) => line.startsWith("| 6 |"));
    expect(row).toBeDefined();
    const [, , , tried, refused, accepted, crashed, hung, poisoned] = row!.split("|").map((cell) => cell.trim());
    expect({ tried, refused, accepted, crashed, poisoned }).toEqual({ tried: "2", refused: "2", accepted: "0", crashed: "0", poisoned: "0" });
    expect(Number(hung)).toBeGreaterThanOrEqual(0);
    expect(row).toContain("refused to start (invalid_argument)");
  }, 120_000);
});
