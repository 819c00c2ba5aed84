/**
 * Cheap checks of a delta's raw change chunks, before Automerge decodes them:
 * the op budget and nesting. Decoding builds a JS object per op, so a delta
 * of 200,000 nested maps took seconds to refuse once decoded; read from the
 * columns (automerge-change-columns.ts) it is refused in one linear pass.
 * The full checks (automerge-op-check.ts) still run on what passes: nesting
 * here only counts objects made within the delta (an object made earlier
 * counts as depth 1, its least), so it never refuses a valid delta.
 */
import { ConcordError } from "../errors.ts";
import { readChangeColumns } from "./automerge-change-columns.ts";
import { invalidUpdate } from "./engine-errors.ts";

/** Per-op arrays are not built past this many ops in one change when there is no op budget (whole states from regions). */
const maxColumnsWithoutBudget = 1 << 22;

/** Action codes of the ops that make an object (makeMap, makeList, makeText, makeTable). */
const isMake = (action: number): boolean => action === 0 || action === 2 || action === 4 || action === 6;

/**
 * Throws ConcordError("too_large", reason "too_many_ops") when the chunks
 * carry more than `maxOps` ops (undefined: no budget), and invalid_update
 * "too_deep" when the objects they make nest deeper than `maxDepth`.
 * Returns how many ops the chunks carry.
 */
export function precheckChanges(chunks: Uint8Array[], maxOps: number | undefined, maxDepth: number): number {
  let ops = 0;
  const depths = new Map<string, number>();
  for (const chunk of chunks) {
    const left = maxOps === undefined ? maxColumnsWithoutBudget : Math.max(0, maxOps - ops);
    const columns = readChangeColumns(chunk, left);
    ops += columns.opCount;
    if (maxOps !== undefined && ops > maxOps) throw tooManyOps(ops, maxOps);
    if (columns.opCount > left) continue; // not read op by op: the full checks bound it
    const { actions, objActors, objCounters, actors, startOp } = columns;
    const author = actors[0]!;
    for (let i = 0; i < actions.length; i++) {
      if (!isMake(actions[i]!)) continue;
      const objActor = objActors[i]!;
      const parent = objActor < 0 ? 0 : depths.get(`${objCounters[i]}@${actors[objActor]}`) ?? 1;
      if (parent + 1 > maxDepth) throw invalidUpdate("too_deep", `Automerge change nests deeper than ${maxDepth} levels`);
      depths.set(`${startOp + i}@${author}`, parent + 1);
    }
  }
  return ops;
}

/** The refusal of a delta over its op budget (see EngineLimits.maxOpsPerDelta). */
export function tooManyOps(ops: number, maxOps: number): ConcordError {
  return new ConcordError("too_large", `the delta carries ${ops} Automerge ops, over the limit of ${maxOps}; send it in smaller changes`, {
    details: { reason: "too_many_ops", ops, maxOps },
  });
}
