/**
 * Large Automerge deltas applied off the main thread. Checking a delta's
 * bytes already runs on a worker (automerge-verdicts.ts), but Automerge's own
 * applyChanges, and our op index over every new op, are linear in the delta
 * and ran on the event loop: a 300,000-op text insert held it over a second.
 *
 * So when the caller holds the document a large delta goes to (DocEngine
 * prepare with a state), a worker applies the delta to its own copy of it,
 * loaded from the document's saved bytes, with every check apply() makes,
 * and returns the result's saved bytes and op index (with its heads). apply() of the
 * same delta object then replaces the document with Automerge.load of those
 * bytes, about a third of applyChanges' cost for the same ops, and adopts
 * the index as is.
 *
 * Only if nothing moved meanwhile: the result is kept with the backend and
 * heads it was computed from, and apply() uses it only on that very backend
 * at those heads. Writes are not gated across the worker's round trip, so a
 * write that lands first makes the result stale, and apply() checks and
 * applies the delta on its own thread, as without a worker: both writes
 * are kept, the racing one only costs the event loop what it cost before.
 *
 * Load costs O(document), applyChanges O(delta): the trip is taken only for
 * deltas of at least offloadMinOps ops into documents at most
 * `maxDocOpsPerDeltaOp` times their size (both the verifier may change).
 */
import * as Automerge from "@automerge/automerge";
import { ConcordError, errorCodes, type ErrorCode } from "../errors.ts";
import type { ApplyOptions, EngineLimits } from "./engine.ts";
import { AutomergeOpIndex, type OpIndexState } from "./automerge-op-index.ts";
import { splitChangeChunks } from "./automerge-chunks.ts";
import { precheckChanges } from "./automerge-precheck.ts";
import { sortedHeads } from "./automerge-heads.ts";
import { offloadMinOps } from "./automerge-offload.ts";
import type { ChangeVerifier } from "./automerge-verdicts.ts";
import { underGuard } from "./automerge-guard.ts";

/** Documents larger than this many times the delta's ops are applied in-thread: loading them would cost more. */
export const maxDocOpsPerDeltaOp = 4;

/** What a worker needs to apply a delta to its copy of a document. */
export interface ApplyJob {
  /** Automerge.save of the document. */
  base: Uint8Array;
  delta: Uint8Array;
  sizeLimit: "delta" | "snapshot";
  limits: EngineLimits;
}

/** A refusal, as it crosses threads (errors lose their class when posted). */
export interface PostedError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** What the worker found. `trapped`: the delta trapped the worker's wasm module (deterministic: it would trap here too). */
export type ApplyOutcome =
  | { ok: true; changed: false }
  | { ok: true; changed: true; saved: Uint8Array; index: OpIndexState }
  | { ok: false; error: PostedError };

interface Result {
  backend: object;
  headsKey: string;
  sizeLimit: "delta" | "snapshot";
  outcome: ApplyOutcome;
}

export interface OffloadedApplies {
  /** Applies `delta` to a copy of `doc` on the applier when it is worth it; true when a result is kept for apply(). */
  prepare(doc: Automerge.Doc<unknown>, delta: Uint8Array, options?: ApplyOptions): Promise<boolean>;
  /** The kept result for this delta object, if computed from `doc` exactly as it is now (forgotten either way). */
  take(doc: Automerge.Doc<unknown>, delta: Uint8Array, options?: ApplyOptions): ApplyOutcome | undefined;
}

/** Offloaded applies for one engine; without a verifier that applies (ChangeVerifier.apply), prepare() does nothing. */
export function createOffloadedApplies(applier: ChangeVerifier | undefined, limits: EngineLimits): OffloadedApplies {
  const results = new WeakMap<Uint8Array, Result>();
  return {
    async prepare(doc, delta, options = {}) {
      if (applier?.apply === undefined || delta.length === 0) return false;
      const sizeLimit = options.sizeLimit ?? "delta";
      let job: ApplyJob;
      let result: Omit<Result, "outcome">;
      try {
        const ops = precheckChanges(splitChangeChunks(delta), sizeLimit === "snapshot" ? undefined : limits.maxOpsPerDelta, limits.maxDepth);
        if (ops < (applier.minOps ?? offloadMinOps)) return false;
        // The save is O(document) on this thread, as is the load after: a small delta to a large document stays here.
        const started = underGuard(() => {
          if (Automerge.stats(doc).numOps > ops * (applier.maxDocOpsPerDeltaOp ?? maxDocOpsPerDeltaOp)) return undefined;
          const from = { backend: Automerge.getBackend(doc), headsKey: sortedHeads(doc).join(), sizeLimit };
          return { from, job: { base: Automerge.save(doc), delta, sizeLimit, limits } };
        });
        if (started === undefined) return false;
        ({ from: result, job } = started);
      } catch {
        return false; // apply() refuses it (or meets the dead module) in its own way
      }
      let outcome: ApplyOutcome;
      try {
        outcome = await applier.apply!(job);
      } catch {
        return false; // the applier failed, not the delta
      }
      results.set(delta, { ...result, outcome });
      return true;
    },

    take(doc, delta, options = {}) {
      const result = results.get(delta);
      if (result === undefined) return undefined;
      results.delete(delta);
      if (result.sizeLimit !== (options.sizeLimit ?? "delta") || result.backend !== Automerge.getBackend(doc)) return undefined;
      return result.headsKey === sortedHeads(doc).join() ? result.outcome : undefined;
    },
  };
}

/**
 * The document a worker computed from `doc`, loaded in this thread with the
 * worker's op index (unchanged: `doc` itself, no index); throws its refusal.
 * Undefined when the bytes do not load to the heads the worker reported:
 * the caller then works the delta out itself.
 */
export function loadOutcome(doc: Automerge.Doc<unknown>, outcome: ApplyOutcome): { state: Automerge.Doc<any>; changed: boolean; index?: AutomergeOpIndex } | undefined {
  if (!outcome.ok) throw refusalOf(outcome.error, errorCodes);
  if (!outcome.changed) return { state: doc, changed: false };
  let next: Automerge.Doc<any>;
  try {
    // Our own worker's save, every change in it checked there: the heads are compared below instead of
    // recomputed by the load (unchecked), a fifth of the load's time.
    next = Automerge.load(outcome.saved, { actor: Automerge.getActorId(doc), unchecked: true });
  } catch {
    return undefined;
  }
  if (sortedHeads(next).join() !== outcome.index.headsKey) {
    Automerge.free(next);
    return undefined;
  }
  return { state: next, changed: true, index: AutomergeOpIndex.fromState(outcome.index) };
}

/**
 * The refusal a worker posted, for this thread. The live document was not
 * touched, so it is never `damaged`; a trap stays `trapped`, which counts
 * against the document as a trap here would (doc-quarantine.ts).
 */
export function refusalOf(posted: PostedError, codes: readonly string[]): ConcordError {
  const code = (codes.includes(posted.code) ? posted.code : "invalid_update") as ErrorCode;
  const { damaged: _damaged, ...details } = posted.details;
  const message = details["trapped"] === true ? "the Automerge engine trapped on this delta (in a worker); the document is unchanged" : posted.message;
  return new ConcordError(code, message, { details });
}
