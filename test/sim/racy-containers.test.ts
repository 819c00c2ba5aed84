/**
 * The injected bug racy-container-create makes JSON ops create containers
 * with each replica's own writer, the way a naive implementation does; the
 * workload creates documents and containers concurrently in several regions,
 * so the checker must see the writes that vanish under a competing container.
 */
import { describe, expect, it } from "vitest";
import { runSimulation } from "../../sim/run.ts";
import { explain } from "./sweep-options.ts";

const options = { docs: 4, ops: 150, chaosMs: 5000 } as const;

describe("racy-container-create", () => {
  for (const seed of [1, 2, 3]) {
    it(`is reported as lost writes on seed ${seed}, which passes without it`, async () => {
      const clean = await runSimulation({ ...options, seed });
      expect(clean.violations, explain(clean)).toEqual([]);
      const buggy = await runSimulation({ ...options, seed, bugs: ["racy-container-create"] });
      const kinds = new Set(buggy.violations.map((v) => v.kind));
      expect(kinds.has("lost-write") || kinds.has("counter"), explain(buggy)).toBe(true);
    });
  }
});
