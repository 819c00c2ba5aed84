/** The options of the CI seed sweep: small seeds (few docs, ~100 ops, 3 s of chaos), every nemesis, both engines. */
import type { SimOptions } from "../../sim/options.ts";
import { nemesisKinds } from "../../sim/nemesis.ts";
import type { SimResult } from "../../sim/run.ts";

export const sweepOptions: Partial<SimOptions> = {
  regions: 5, docs: 3, ops: 100, chaosMs: 3000, convergenceBoundMs: 30_000, nemesis: nemesisKinds,
};

/** A failure message that names the seed and the command that replays it. */
export function explain(result: SimResult): string {
  return `seed ${result.seed} failed:\n${result.violations.map((v) => `  [${v.kind}] ${v.message}`).join("\n")}\nreplay: ${result.replay}`;
}
