/**
 * fast-check drives the simulator with arbitrary seeds and fault mixes: every
 * run must pass every check. fast-check prints the failing seed and the
 * counterexample; the replay command is in the assertion message.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nemesisKinds } from "../../sim/nemesis.ts";
import { runSimulation } from "../../sim/run.ts";
import { explain } from "./sweep-options.ts";

describe("simulator property", () => {
  it("passes every check for any seed, region count and mix of faults", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 10_000, max: 2 ** 31 - 1 }),
        fc.integer({ min: 2, max: 5 }),
        fc.subarray([...nemesisKinds], { minLength: 1 }),
        async (seed, regions, nemesis) => {
          const result = await runSimulation({ seed, regions, nemesis, docs: 2, ops: 60, chaosMs: 2000, convergenceBoundMs: 30_000 });
          expect(result.violations, explain(result)).toEqual([]);
        },
      ),
      { numRuns: 12, seed: 20261121, verbose: true },
    );
  });
});
