import { describe, expect, it } from "vitest";
import { runSimulation } from "../../sim/run.ts";
import { sweepOptions } from "./sweep-options.ts";

describe("simulator determinism", () => {
  for (const seed of [3, 17, 101]) {
    it(`gives the same trace hash, bit for bit, when a seed runs twice (seed ${seed})`, async () => {
      const first = await runSimulation({ ...sweepOptions, seed });
      const second = await runSimulation({ ...sweepOptions, seed });
      expect(second.traceHash, `seed ${seed}: ${first.replay}`).toBe(first.traceHash);
      expect(second.events, `seed ${seed}`).toBe(first.events);
      expect(second.bytes, `seed ${seed}`).toBe(first.bytes);
      expect(second.timeline.divergence, `seed ${seed}`).toEqual(first.timeline.divergence);
    });
  }

  it("gives different seeds different runs (seeds 5 and 6)", async () => {
    const a = await runSimulation({ ...sweepOptions, seed: 5 });
    const b = await runSimulation({ ...sweepOptions, seed: 6 });
    expect(a.traceHash).not.toBe(b.traceHash);
  });
});
