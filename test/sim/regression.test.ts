import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runSimulation } from "../../sim/run.ts";
import type { SimOptions } from "../../sim/options.ts";
import { explain } from "./sweep-options.ts";

const corpus = JSON.parse(readFileSync(new URL("../../sim/regression-seeds.json", import.meta.url), "utf8")) as {
  runs: Array<Partial<SimOptions> & { seed: number; note?: string }>;
};

describe("simulator regression corpus (sim/regression-seeds.json)", () => {
  it("holds at least one run", () => {
    expect(corpus.runs.length).toBeGreaterThan(0);
  });

  for (const { note, ...run } of corpus.runs) {
    it(`passes seed ${run.seed}${note ? ` (${note})` : ""}`, async () => {
      const result = await runSimulation(run);
      expect(result.violations, explain(result)).toEqual([]);
    });
  }
});
