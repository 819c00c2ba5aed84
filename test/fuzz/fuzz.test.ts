/**
 * A short run of the fuzz targets inside `npm test` (the long run is
 * `npm run fuzz`): no input crashes the engine or poisons the document.
 * Hangs are not judged here (no wall-clock budgets in tests).
 */
import { describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { fuzzGossip } from "./gossip-target.ts";
import { fuzzHttp } from "./http-target.ts";
import { fuzzDeltas, fuzzJsonOps } from "./targets.ts";

const seed = Number(process.env.CONCORD_FUZZ_SEED ?? 1);
const inputs = 300;

describe(`fuzz (seed ${seed}; CONCORD_FUZZ_SEED replays)`, () => {
  for (const kind of ["yjs", "automerge"] as const) {
    it(`refuses or safely accepts ${inputs} mutated ${kind} deltas`, () => {
      const tally = fuzzDeltas(kind, { seed, inputs });
      expect(tally.failures).toEqual([]);
      expect(tally.crashed + tally.poisoned).toBe(0);
      expect(tally.accepted + tally.refused).toBe(inputs);
    });

    it(`refuses or safely accepts ${inputs} random ${kind} JSON-ops bodies`, () => {
      const tally = fuzzJsonOps(kind, { seed, inputs });
      expect(tally.failures).toEqual([]);
      expect(tally.crashed + tally.poisoned).toBe(0);
      expect(tally.accepted).toBeGreaterThan(0);
    });
  }
});

describe(`fuzz over the wire (seed ${seed}; CONCORD_FUZZ_SEED replays)`, () => {
  it("refuses or safely accepts 150 hostile gossip frames; every document then reloads, takes a write and converges", async () => {
    await loadSodium();
    const tally = await fuzzGossip({ seed, inputs: 150 });
    expect(tally.failures).toEqual([]);
    expect(tally.crashed + tally.poisoned).toBe(0);
    expect(tally.refused).toBeGreaterThan(0);
    expect(tally.accepted).toBeGreaterThan(0);
  });

  it("answers 150 hostile HTTP bodies (up to 100 KB) with 2xx or a clear 4xx; every document then reloads and takes a write", async () => {
    const tally = await fuzzHttp({ seed, inputs: 150, light: true });
    expect(tally.failures).toEqual([]);
    expect(tally.crashed + tally.poisoned).toBe(0);
    expect(tally.refused).toBeGreaterThan(0);
    expect(tally.accepted).toBeGreaterThan(0);
  });
});

describe("fuzz regressions", () => {
  it("refuses a Yjs struct that continues a known map entry as text (seed 1000001, input 298 once poisoned its document)", () => {
    const tally = fuzzDeltas("yjs", { seed: 1_000_001, inputs: 300 });
    expect(tally.failures).toEqual([]);
    expect(tally.poisoned).toBe(0);
  });
});
