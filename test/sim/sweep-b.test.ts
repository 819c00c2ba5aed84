/**
 * Seed sweep, part b (seeds 101..200); the sweep is split in two files so
 * vitest runs the halves in parallel. Each seed: 5 regions, Yjs and Automerge
 * documents, every nemesis; all checks must pass.
 */
import { describe, expect, it } from "vitest";
import { runSimulation } from "../../sim/run.ts";
import { explain, sweepOptions } from "./sweep-options.ts";

describe("simulator seed sweep 101..200", () => {
  it("converges with no lost write, within the bound and the memory limits, for every seed", async () => {
    const failures: string[] = [];
    for (let seed = 101; seed <= 200; seed++) {
      const result = await runSimulation({ ...sweepOptions, seed });
      if (result.violations.length > 0) failures.push(explain(result));
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
