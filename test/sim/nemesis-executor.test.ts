import { describe, expect, it } from "vitest";
import { runSimulation } from "../../sim/run.ts";
import { explain } from "./sweep-options.ts";

describe("nemesis executor", () => {
  it("never lets a crash that waits for a write in flight land after the final heal", async () => {
    // No writes, so the crash waits its full 500 ms for one: without the fix it landed 490 ms after the heal.
    const result = await runSimulation({
      seed: 1, docs: 1, ops: 0, chaosMs: 1000, convergenceBoundMs: 10_000,
      script: [{ at: 990, type: "crash", region: "us-west", landed: 0, whileWriting: true }],
    });
    expect(result.violations, explain(result)).toEqual([]);
    const heal = result.timeline.actions.find((a) => a.type === "final-heal")!;
    expect(result.timeline.actions.filter((a) => a.type === "crash" && a.at > heal.at)).toEqual([]);
  });

  it("drops a waiting crash once its region's restart has come", async () => {
    const result = await runSimulation({
      seed: 1, docs: 1, ops: 0, chaosMs: 2000, convergenceBoundMs: 10_000,
      script: [{ at: 100, type: "crash", region: "us-west", landed: 0, whileWriting: true }, { at: 300, type: "restart", region: "us-west" }],
    });
    expect(result.violations, explain(result)).toEqual([]);
    expect(result.crashes).toBe(0);
  });

  it("restarts a rotted region that crashed while its first scrub ran (seed 45 stayed down for good)", async () => {
    // The rot waits until the region's documents are held elsewhere, so its restart lands a little after 900:
    // several crash offsets make sure at least one crash falls between that restart and the end of the scrub.
    let crashedWhileSettling = 0;
    for (const offset of [10, 14, 20]) {
      const result = await runSimulation({
        seed: 3, docs: 2, ops: 60, chaosMs: 2000, convergenceBoundMs: 10_000,
        script: [
          { at: 500, type: "crash", region: "us-west", landed: 0, whileWriting: false },
          { at: 900, type: "rot", region: "us-west", mode: "drop-tail", pick: 7 },
          { at: 900, type: "restart", region: "us-west" },
          { at: 900 + offset, type: "crash", region: "us-west", landed: 1, whileWriting: false },
          { at: 1400, type: "restart", region: "us-west" },
        ],
      });
      expect(result.violations, explain(result)).toEqual([]);
      const mine = result.timeline.actions.filter((a) => a.region === "us-west").map((a) => a.type);
      if (mine.join() === "crash,rot,restart,crash,restart") crashedWhileSettling++;
    }
    expect(crashedWhileSettling).toBeGreaterThan(0);
  });
});
