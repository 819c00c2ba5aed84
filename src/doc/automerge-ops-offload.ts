/**
 * Large PATCHes (JSON ops) on Automerge documents, made on a worker's copy:
 * the same trade as automerge-apply-offload.ts makes for deltas. A 99,000-
 * character insertText is one Automerge.change of as many ops, plus our op
 * index over them, all on the event loop. Given the document first
 * (DocEngine.prepareOps), a worker clones it under the document's own actor,
 * runs the very ops at the time prepareOps was called, and returns the
 * saved result, its op index and the change it made; applyOps() of the same
 * ops array then loads that result instead of editing here.
 *
 * The change the worker made is the one this thread would have made (same
 * actor, same seq, same ops, same deps), except that its time is that of
 * prepareOps, a moment earlier. Used only on the backend and heads it was
 * made from: a write that lands meanwhile makes applyOps() edit here.
 */
import * as Automerge from "@automerge/automerge";
import type { EngineLimits, OpScope } from "./engine.ts";
import { checkOpBudget, type JsonOp } from "./json-ops.ts";
import type { AutomergeOpIndex, OpIndexState } from "./automerge-op-index.ts";
import { loadOutcome, maxDocOpsPerDeltaOp, refusalOf, type PostedError } from "./automerge-apply-offload.ts";
import { errorCodes } from "../errors.ts";
import { offloadMinOps } from "./automerge-offload.ts";
import type { ChangeVerifier } from "./automerge-verdicts.ts";
import { sortedHeads } from "./automerge-heads.ts";
import { underGuard } from "./automerge-guard.ts";

/** What a worker needs to run JSON ops on its copy of a document. */
export interface OpsJob {
  base: Uint8Array;
  /** The document's actor: the change is this document's own. */
  actor: string;
  /** The clock's milliseconds when the ops were prepared (the change's time). */
  timeMs: number;
  ops: JsonOp[];
  scope: OpScope;
  limits: EngineLimits;
}

/** What the worker found: the refusal, or the result with the delta the ops made (empty: nothing changed). */
export type OpsOutcome =
  | { ok: true; changed: false }
  | { ok: true; changed: true; saved: Uint8Array; index: OpIndexState; delta: Uint8Array }
  | { ok: false; error: PostedError };

interface Result {
  backend: object;
  headsKey: string;
  outcome: OpsOutcome;
}

/** What applyOps() answers from a kept result; `index` is the worker's, for the loaded state. */
export interface TakenOps {
  state: Automerge.Doc<any>;
  delta: Uint8Array;
  index?: AutomergeOpIndex;
}

export interface OffloadedOps {
  /** Runs `ops` on a copy of `doc` on the verifier when they are large (`timeMs`: the change's time); never rejects. */
  prepare(doc: Automerge.Doc<unknown>, ops: JsonOp[], scope: OpScope, timeMs: number): Promise<void>;
  /** The kept result for this ops array, if made from `doc` as it is now (forgotten either way); throws its refusal. */
  take(doc: Automerge.Doc<unknown>, ops: JsonOp[]): TakenOps | undefined;
}

/** Offloaded PATCHes for one engine; without a verifier that runs ops (ChangeVerifier.runOps), prepare() does nothing. */
export function createOffloadedOps(verifier: ChangeVerifier | undefined, limits: EngineLimits): OffloadedOps {
  const results = new WeakMap<JsonOp[], Result>();
  return {
    async prepare(doc, ops, scope, timeMs) {
      if (verifier?.runOps === undefined) return;
      let job: OpsJob;
      let from: Omit<Result, "outcome">;
      try {
        const work = checkOpBudget(ops, limits.maxOpsPerDelta);
        if (work < (verifier.minOps ?? offloadMinOps)) return;
        // The save is O(document) on this thread, as is the load after: a small edit of a large document stays here.
        const started = underGuard(() => {
          if (Automerge.stats(doc).numOps > work * (verifier.maxDocOpsPerDeltaOp ?? maxDocOpsPerDeltaOp)) return undefined;
          const at = { backend: Automerge.getBackend(doc), headsKey: sortedHeads(doc).join() };
          return { at, job: { base: Automerge.save(doc), actor: Automerge.getActorId(doc), timeMs, ops, scope, limits } };
        });
        if (started === undefined) return;
        ({ at: from, job } = started);
      } catch {
        return; // applyOps() refuses them in its own way
      }
      try {
        results.set(ops, { ...from, outcome: await verifier.runOps(job) });
      } catch {
        // the verifier failed, not the ops: applyOps() runs them here
      }
    },

    take(doc, ops) {
      const result = results.get(ops);
      if (result === undefined) return undefined;
      results.delete(ops);
      if (result.backend !== Automerge.getBackend(doc) || result.headsKey !== sortedHeads(doc).join()) return undefined;
      const { outcome } = result;
      if (!outcome.ok) throw refusalOf(outcome.error, errorCodes);
      if (!outcome.changed) return { state: doc, delta: new Uint8Array(0) };
      const loaded = loadOutcome(doc, { ok: true, changed: true, saved: outcome.saved, index: outcome.index });
      return loaded === undefined ? undefined : { state: loaded.state, delta: outcome.delta, ...(loaded.index ? { index: loaded.index } : {}) };
    },
  };
}
