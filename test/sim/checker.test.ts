import { describe, expect, it } from "vitest";
import { checkAckedWrites, checkConvergence, type Contents } from "../../sim/checker.ts";
import { runSimulation } from "../../sim/run.ts";
import { renderReport } from "../../sim/report.ts";
import { createLedger } from "../../sim/workload.ts";

const doc = (value: unknown) => JSON.stringify({ kind: "yjs", version: "v", value });

describe("simulator checker", () => {
  it("lists every missing acknowledged write, on every region, not only the first few", () => {
    const ledger = createLedger();
    for (let n = 0; n < 8; n++) ledger.acked.push({ doc: "d", region: "a", kind: "map", tag: `a/${n}`, at: n });
    const contents = new Map<string, Contents>([
      ["a", new Map([["d", doc({ m: Object.fromEntries(Array.from({ length: 8 }, (_, n) => [`a/${n}`, 1])) })]])],
      ["b", new Map([["d", doc({ m: {} })]])],
      ["c", new Map([["d", doc({ m: { "a/0": 1 } })]])],
    ]);
    const { violations, lost } = checkAckedWrites(contents, ledger);
    expect(lost).toBe(8);
    expect(violations.map((v) => [v.kind, v.items?.length])).toEqual([["lost-write", 8], ["lost-write", 7]]);
    expect(violations[0]!.message).toContain("(8 in all)");
    expect(violations[0]!.items).toContain("map a/7 in d");
  });

  it("reports every region that differs, with every differing document", () => {
    const base = new Map(Array.from({ length: 7 }, (_, i) => [`d${i}`, doc(i)] as [string, string]));
    const other = new Map([...base].map(([id]) => [id, doc("x")] as [string, string]));
    const violations = checkConvergence(new Map([["a", base], ["b", other], ["c", other]]));
    expect(violations.map((v) => v.kind)).toEqual(["divergence", "divergence"]);
    expect(violations[1]!.items).toEqual([...base.keys()]);
  });

  it("counts a region that is down as divergent on every document, and plots regions down", async () => {
    const result = await runSimulation({
      seed: 3, docs: 2, ops: 0, chaosMs: 2000, convergenceBoundMs: 10_000,
      script: [{ at: 500, type: "crash", region: "eu-west", landed: 0, whileWriting: false }, { at: 1500, type: "restart", region: "eu-west" }],
    });
    expect(result.violations).toEqual([]);
    const during = result.timeline.divergence.filter(([t]) => t > result.timeline.chaosStartMs + 600 && t < result.timeline.chaosStartMs + 1400);
    expect(during.length).toBeGreaterThan(0);
    for (const [, divergent, down] of during) expect([divergent, down]).toEqual([2, 1]);
    expect(result.timeline.divergence.at(-1)).toEqual([result.timeline.endMs, 0, 0]);
    expect(renderReport(result)).toContain("regions down");
  });
});
