/**
 * The seed sweep of `npm test`: one test per seed over sweepOptions, so a
 * failure names its seed and its replay command, and no test holds a budget
 * for many runs. It is split over files (sweep-a, sweep-b) only so vitest runs
 * them in parallel. The long sweeps (200 seeds, catch rates of the injected
 * bugs) are `npm run sim:sweep`.
 */
import { describe, expect, it } from "vitest";
import { runSimulation } from "../../sim/run.ts";
import { explain, sweepOptions } from "./sweep-options.ts";

/** Declares one test per seed in `first..last`. */
export function sweepSeeds(first: number, last: number): void {
  describe(`simulator seed sweep ${first}..${last}`, () => {
    for (let seed = first; seed <= last; seed++) {
      it(`converges with no lost write, within the bound and the memory limits (seed ${seed})`, async () => {
        const result = await runSimulation({ ...sweepOptions, seed });
        expect(result.violations, explain(result)).toEqual([]);
      });
    }
  });
}
