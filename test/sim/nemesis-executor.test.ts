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
});
