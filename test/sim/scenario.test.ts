import { describe, expect, it } from "vitest";
import { partitionLinks } from "../../sim/nemesis.ts";
import { parseScenario } from "../../sim/scenario.ts";

const regions = ["a", "b", "c", "d", "e"];

describe("partition shapes and scenarios", () => {
  it("makes a bridge where A–B and B–C work but A–C does not", () => {
    const links = partitionLinks("bridge", ["b", "a", "c"]).map(([x, y]) => `${x}>${y}`);
    expect(links.sort()).toEqual(["a>c", "c>a"]);
  });

  it("leaves each region of a majority ring its two neighbours", () => {
    const links = partitionLinks("ring", regions);
    for (const r of regions) {
      const reachable = regions.filter((o) => o !== r && !links.some(([x, y]) => x === r && y === o));
      expect(reachable.length).toBe(2);
    }
  });

  it("cuts only one direction for one-way", () => {
    expect(partitionLinks("one-way", ["a", "b", "c"])).toEqual([["a", "b"], ["a", "c"]]);
  });

  it("parses a scripted scenario and rejects an unknown region with a clear error", () => {
    const scenario = parseScenario({ chaosMs: 1000, events: [{ at: 5, do: "crash", region: "a" }, { at: 1, do: "partition", shape: "isolate", regions: ["b"] }] }, regions);
    expect(scenario.actions.map((a) => a.type)).toEqual(["partition", "crash"]);
    expect(() => parseScenario({ events: [{ at: 1, do: "crash", region: "zz" }] }, regions)).toThrow(/events\[0\]\.region/);
    expect(() => parseScenario({ events: [{ at: 1, do: "explode" }] }, regions)).toThrow(/events\[0\]\.do/);
  });
});
