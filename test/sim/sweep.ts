/**
 * The CI seed sweep over sweepOptions; every check must pass for every seed.
 * It is split over files (sweep-a, sweep-b) only so vitest runs them in parallel.
 */
import { describe, expect, it } from "vitest";
import { runSimulation } from "../../sim/run.ts";
import { explain, sweepOptions } from "./sweep-options.ts";

/** Declares the sweep test over seeds `first..last`. */
export function sweepSeeds(first: number, last: number): void {
  describe(`simulator seed sweep ${first}..${last}`, () => {
    it("converges with no lost write, within the bound and the memory limits, for every seed", async () => {
      const failures: string[] = [];
      for (let seed = first; seed <= last; seed++) {
        const result = await runSimulation({ ...sweepOptions, seed });
        if (result.violations.length > 0) failures.push(explain(result));
      }
      expect(failures).toEqual([]);
    }, 240_000);
  });
}
